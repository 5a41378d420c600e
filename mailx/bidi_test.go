package mailx

import (
	"bytes"
	"strings"
	"testing"

	"homepost/maildir"
)

// A bidi override or isolate in a Subject, a From or a body line would
// show the text after it in another order than it has (a file name
// ending "exe.pdf" shown as one ending "fdp.exe"): the summary, p and
// the body show it as '?', as other control characters. The marks that
// right-to-left text uses (U+200F) are shown as they are.
func TestBidiControlsShownAsQuestionMarks(t *testing.T) {
	h := newHome(t)
	msg := "From: Evil \u202eknil\u202c <evil@example.org>\n" +
		"Subject: invoice \u202efdp.exe\u2066x\u2069\n" +
		"Content-Type: text/plain; charset=utf-8\n\n" +
		"open invoice\u202egpj.exe now\n" +
		"\u05e9\u05dc\u05d5\u05dd\u200f.\n"
	if err := maildir.Dir(h.path("Maildir")).Deliver("1700000000.M1P1.bidi", []byte(msg), bytes.NewReader(nil)); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"", "p 1\nx\n"} {
		out, stderr, code := h.mail(t, in)
		if in == "" {
			out, stderr, code = h.mail(t, "", "-H")
		}
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", in, code, stderr)
		}
		for _, r := range []rune{0x202e, 0x202c, 0x2066, 0x2069} {
			if strings.ContainsRune(out, r) {
				t.Errorf("%q: U+%04X reaches the terminal:\n%s", in, r, out)
			}
		}
		if in != "" {
			for _, want := range []string{"invoice ?fdp.exe?x?", "open invoice?gpj.exe now", "\u05e9\u05dc\u05d5\u05dd\u200f."} {
				if !strings.Contains(out, want) {
					t.Errorf("p does not show %q:\n%s", want, out)
				}
			}
		}
	}
}
