package smtpwire

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, r io.Reader, chunk int) string {
	t.Helper()
	var out []byte
	buf := make([]byte, chunk)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return string(out)
		}
	}
}

// Bare names in MAIL and RCPT get the marker domain, whatever the case
// of the command; paths with a domain, the null path, quoted local
// parts and message lines are left as they are.
func TestReader(t *testing.T) {
	for in, want := range map[string]string{
		"MAIL FROM:<grafana>\r\n":                        "MAIL FROM:<grafana@" + Unqualified + ">\r\n",
		"rcpt to:nu1\r\n":                                "rcpt to:nu1@" + Unqualified + "\r\n",
		"RCPT TO: <nu1> NOTIFY=NEVER\r\n":                "RCPT TO: <nu1@" + Unqualified + "> NOTIFY=NEVER\r\n",
		"RCPT TO:<me@example.org>\r\n":                   "RCPT TO:<me@example.org>\r\n",
		"MAIL FROM:<>\r\n":                               "MAIL FROM:<>\r\n",
		"MAIL FROM:<\"a b\">\r\n":                        "MAIL FROM:<\"a b\">\r\n",
		"DATA\r\nRCPT TO:<x>\r\n.\r\nRCPT TO:<y>\r\n":    "DATA\r\nRCPT TO:<x>\r\n.\r\nRCPT TO:<y@" + Unqualified + ">\r\n",
		"BDAT 13 LAST\r\nRCPT TO:<x>\r\nRCPT TO:<y>\r\n": "BDAT 13 LAST\r\nRCPT TO:<x>\r\nRCPT TO:<y@" + Unqualified + ">\r\n",
	} {
		for _, chunk := range []int{1, 5, 4096} {
			if got := readAll(t, NewReader(strings.NewReader(in), nil, 0), chunk); got != want {
				t.Errorf("%q (reads of %d): got %q, want %q", in, chunk, got, want)
			}
		}
	}
	if a, ok := Bare("nu1@" + Unqualified); !ok || a != "nu1" {
		t.Errorf("Bare = %q, %v", a, ok)
	}
	if a, ok := Bare("nu1@example.org"); ok || a != "nu1@example.org" {
		t.Errorf("Bare(qualified) = %q, %v", a, ok)
	}
}

// go-smtp's misspelling is corrected even when a reply comes in pieces,
// and a qualified path is shown with the session's domain.
func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := &Writer{W: &b, Domain: "host.example"}
	for _, p := range []string{"500 5.5.1 Too many errors. Qui", "ting now\r\n", "250 2.0.0 Roger, accepting mail from <nu1@" + Unqualified + ">\r\n"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	want := "500 5.5.1 Too many errors. Quitting now\r\n250 2.0.0 Roger, accepting mail from <nu1@host.example>\r\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	if got := string(Fix([]byte("250 <root@"+Unqualified+">\r\n"), "")); got != "250 <root>\r\n" {
		t.Errorf("Fix without a domain: %q", got)
	}
	// A command out of sequence is 503, not go-smtp's 502.
	if got := string(Fix([]byte("502 5.5.1 Missing RCPT TO command.\r\n"), "")); got != "503 5.5.1 Missing RCPT TO command.\r\n" {
		t.Errorf("out of sequence: %q", got)
	}
}
