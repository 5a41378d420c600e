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

// wideSize changes at most the digits of one SIZE parameter, to
// SizeCap, and only for a value of at least SizeCap; it never panics.
func FuzzWideSize(f *testing.F) {
	for _, s := range []string{
		"MAIL FROM:<a@b> SIZE=5000000000\r\n",
		"MAIL FROM:<\"x> SIZE=5000000000\"@b>\r\n",
		"MAIL FROM:<a\\>@b> SIZE=99999999999999999999999\r\n",
		"MAIL FROM: SIZE=\r\n",
		"MAIL FROM:<a@b> SIZE=4294967295 SIZE=9999999999\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		const at = len("MAIL ")
		if len(line) < at+5 {
			return
		}
		out, n, ok := wideSize([]byte(line), at+5)
		if !ok {
			if string(out) != line {
				t.Fatalf("%q changed to %q without a wide SIZE", line, out)
			}
			return
		}
		if n < SizeCap {
			t.Fatalf("%q: SIZE %d taken as wide", line, n)
		}
		// Word by word, only one SIZE=DIGITS became SIZE=SizeCap.
		a, b := strings.Split(line, " "), strings.Split(string(out), " ")
		if len(a) != len(b) {
			t.Fatalf("%q became %q: words added or removed", line, out)
		}
		changed := 0
		for k := range a {
			if a[k] == b[k] {
				continue
			}
			changed++
			w := a[k]
			if e := strings.IndexAny(w, "\r\n"); e >= 0 {
				w = w[:e] // a value ends at the line's end
			}
			if len(w) < 5 || !strings.EqualFold(w[:5], "SIZE=") || strings.Trim(w[5:], "0123456789") != "" ||
				b[k] != a[k][:5]+"4294967295"+a[k][len(w):] {
				t.Fatalf("%q became %q: word %q became %q", line, out, a[k], b[k])
			}
		}
		if changed > 1 {
			t.Fatalf("%q became %q: %d words changed", line, out, changed)
		}
	})
}
