package mailx

import (
	"strings"
	"testing"
)

// A multipart whose boundary is unquoted and holds '=' (Outlook writes
// boundary=----=_NextPart_…; Go's mime.ParseMediaType refuses it) shows
// its parts; one without a boundary at all shows its text as stored;
// one without MIME-Version is decoded as mutt and s-nail do.
func TestPrintLenientMultipart(t *testing.T) {
	h := newHome(t)
	md := h.path("Maildir")
	plantMaildir(t, md,
		"From: a@b.example\nSubject: outlook\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=----=_NP_01; x=y\n\n"+
			"preamble\n------=_NP_01\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9 outlook\n------=_NP_01--\n",
		"From: a@b.example\nSubject: noboundary\nMIME-Version: 1.0\nContent-Type: multipart/mixed\n\nthe raw text of it\n",
		"From: a@b.example\nSubject: noversion\nContent-Type: multipart/mixed; boundary=\"xx\"\n\n--xx\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8gbm92ZXJzaW9uCg==\n--xx--\n")
	stdout, stderr, code := h.mail(t, "p 1\np 2\np 3\nq\n", "-N", "-f", md)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	for _, want := range []string{"café outlook\n", "the raw text of it\n", "hello noversion\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("p lacks %q:\n%s", want, stdout)
		}
	}
}

// The size column of a summary is never cut: 43,800,316 bytes shows
// whole, as s-nail shows it.
func TestHeaderLineWholeSize(t *testing.T) {
	m := msgWith(1, "a@b.example", "big", "")
	m.Size, m.Lines = 43800316, 600011
	if got := headerLine(m, false, 80); !strings.Contains(got, "600011/43800316 ") {
		t.Errorf("%q", got)
	}
}
