package smtpwire

import (
	"math"
	"strings"
	"testing"
)

// A MAIL command's SIZE of 4 GiB or more is shown to go-smtp as SizeCap
// (it parses 32 bits only), and the real value is kept for the session
// until the next MAIL; the Reader hands on nothing after such a line in
// the same read. A SIZE that is not a number, one within 32 bits, and
// text in a quoted local part are left alone.
func TestWideSize(t *testing.T) {
	for _, tc := range []struct {
		in, out string
		size    int64
	}{
		{"MAIL FROM:<a@b> SIZE=5000000000\r\n", "MAIL FROM:<a@b> SIZE=4294967295\r\n", 5000000000},
		{"mail from:<a@b> BODY=8BITMIME size=4294967295 SMTPUTF8\r\n", "mail from:<a@b> BODY=8BITMIME size=4294967295 SMTPUTF8\r\n", 4294967295},
		{"MAIL FROM:<a@b> SIZE=99999999999999999999\r\n", "MAIL FROM:<a@b> SIZE=4294967295\r\n", math.MaxInt64},
		{"MAIL FROM:<grafana> SIZE=5000000000\r\n", "MAIL FROM:<grafana@" + Unqualified + "> SIZE=4294967295\r\n", 5000000000},
		{"MAIL FROM:<a@b> SIZE=4294967294\r\n", "MAIL FROM:<a@b> SIZE=4294967294\r\n", -1},
		{"MAIL FROM:<a@b> SIZE=5e9\r\n", "MAIL FROM:<a@b> SIZE=5e9\r\n", -1},
		{"MAIL FROM:<\"x> SIZE=5000000000\"@b>\r\n", "MAIL FROM:<\"x> SIZE=5000000000\"@b>\r\n", -1},
	} {
		q := NewReader(strings.NewReader(tc.in+"NOOP\r\n"), nil, 0)
		buf := make([]byte, 4096)
		n, err := q.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got := string(buf[:n])
		if tc.size >= 0 && got != tc.out {
			t.Errorf("%q: first read %q, want %q alone", tc.in, got, tc.out)
		}
		if tc.size < 0 && got != tc.out && got != tc.out+"NOOP\r\n" {
			t.Errorf("%q: passed %q", tc.in, got)
		}
		if size, ok := q.MailSize(); size != tc.size || ok != (tc.size >= 0) {
			t.Errorf("%q: MailSize = %d, %v, want %d", tc.in, size, ok, tc.size)
		}
	}
	// The next MAIL forgets it.
	q := NewReader(strings.NewReader("MAIL FROM:<a@b> SIZE=5000000000\r\nRSET\r\nMAIL FROM:<a@b>\r\n"), nil, 0)
	readAll(t, q, 4096)
	if _, ok := q.MailSize(); ok {
		t.Error("MailSize kept past the next MAIL")
	}
}
