package mailx

import (
	"strings"
	"testing"

	"homepost/maildir"
)

// Bytes that are not UTF-8 in a text labelled UTF-8 (cron's output in
// Latin-1, which cron labels charset=utf-8) show as one U+FFFD each, as
// s-nail shows them, so that the reader sees how many letters are
// missing: "äöü" showed as a single U+FFFD. The label is believed, not
// second-guessed as Latin-1: only a text with no charset is read as
// windows-1252 (TestShowLatin1BodyWithoutCharset).
func TestUndecodableBytesShownEach(t *testing.T) {
	h := newHome(t)
	d := maildir.Dir(h.path("Maildir"))
	d.Init()
	d.Deliver("1700000001.M1P1.host", []byte("From: cron@example.org\nSubject: latin1 =?utf-8?q?x=E4=F6=FCy?=\nMIME-Version: 1.0\n"+
		"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"),
		strings.NewReader("latin1 raw: caf=E9 =E4=F6=FC\n"))
	d.Deliver("1700000002.M1P1.host", []byte("From: cron@example.org\nSubject: eight bits\nMIME-Version: 1.0\n"+
		"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"),
		strings.NewReader("raw: caf\xe9 \xe4\xf6\xfc \xe4\xb8 end\n"))
	out, e, code := h.mail(t, "p 1\np 2\nx\n")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	for _, want := range []string{
		"latin1 raw: caf\uFFFD \uFFFD\uFFFD\uFFFD\n",
		"raw: caf\uFFFD \uFFFD\uFFFD\uFFFD \uFFFD\uFFFD end\n",
		"Subject: latin1 x\uFFFD\uFFFD\uFFFDy\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("not shown: %q\nin:\n%s", want, out)
		}
	}
}
