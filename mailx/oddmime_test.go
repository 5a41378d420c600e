package mailx

import (
	"strings"
	"testing"
)

// showOne puts msg alone in a Maildir and returns what script prints.
func showOne(t *testing.T, msg, script string) string {
	t.Helper()
	h := newHome(t)
	plantMaildir(t, h.path("Maildir"), msg)
	out, stderr, code := h.mail(t, script, "-N", "-f", "Maildir/")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	return out
}

// wantInOrder fails t unless out holds each of want, in this order.
func wantInOrder(t *testing.T, what, out string, want ...string) {
	t.Helper()
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("%s does not show %q (in order); it printed:\n%s", what, w, out)
		}
		rest = rest[i+len(w):]
	}
}

const oddHead = "From: a@example.org\nTo: b@example.org\nSubject: odd\nMIME-Version: 1.0\n"

// A base64 or quoted-printable text part that goes wrong part way is
// shown as far as it decodes, then a note, then the rest as it is
// stored: nothing of it is left out, and the parts after it are shown.
// The text stopped where decoding did, without a word.
func TestBrokenEncodingShown(t *testing.T) {
	cases := []struct {
		name, msg string
		want      []string
	}{
		{
			name: "base64",
			msg:  oddHead + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29y!!!bGQ=\nnot base64 at all $$$\n",
			want: []string{"\n\nhello wor\n" + brokenNote("base64") + "!!!bGQ=\nnot base64 at all $$$\n"},
		},
		{
			name: "base64-all-bad",
			msg:  oddHead + "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!!\n",
			want: []string{"\n\n" + brokenNote("base64") + "!!!!\n"},
		},
		{
			// The quantum cut by the bad byte is shown as stored,
			// from its start, line break kept.
			name: "base64-quantum",
			msg:  oddHead + "Content-Type: text/plain\nContent-Transfer-Encoding: BASE64\n\naGVsbG8gd29\n*bGQ=\n",
			want: []string{"\n\nhello \n" + brokenNote("base64") + "d29\n*bGQ=\n"},
		},
		{
			name: "base64-after-padding",
			msg:  oddHead + "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGk=\naGk=\n",
			want: []string{"\n\nhi\n" + brokenNote("base64") + "aGk=\n"},
		},
		{
			name: "qp",
			msg:  oddHead + "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9 one\nbad\x00line =E9\nlast\n",
			want: []string{"\n\ncafé one\n" + brokenNote("quoted-printable") + "bad?line =E9\nlast\n"},
		},
		{
			name: "in-multipart",
			msg: oddHead + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29y!!!bGQ=\n" +
				"--b\nContent-Type: text/plain\n\nsecond part\n--b--\n",
			want: []string{"[-- #1.1 text/plain --]\nhello wor\n" + brokenNote("base64") + "!!!bGQ=\n[-- #1.2 text/plain --]\nsecond part\n"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantInOrder(t, "p 1", showOne(t, c.msg, "p 1\n"), c.want...)
			wantInOrder(t, "top 1", showOne(t, c.msg, "set toplines=100\ntop 1\n"), c.want...)
		})
	}
	// top counts the note and the rest among its lines.
	out := showOne(t, cases[0].msg, "set toplines=2\ntop 1\n")
	_, body, _ := strings.Cut(out, "\n\n")
	body, _, _ = strings.Cut(body, "Held 1 message")
	if body != "hello wor\n"+brokenNote("base64") {
		t.Errorf("top 1 with toplines=2 shows %q", body)
	}
}

func brokenNote(enc string) string {
	return "[-- invalid " + enc + " from here: shown as stored --]\n"
}

// Raw 8-bit bytes in a header that are not UTF-8, and encoded words in
// the unknown-8bit charset, are read as windows-1252 (Latin-1), as most
// such mail is written, in p and in the header summary; a header that
// is UTF-8, or UTF-8 with a character cut, is shown as it was.
func TestHeaderLatinFallback(t *testing.T) {
	msg := "From: =?unknown-8bit?q?J=F6rg?= <j@example.org>\nTo: b@example.org\nSubject: Forma\xe7\xe3o \x93x\x94 \x81\n" +
		"X-Utf8: =?unknown-8bit?q?J=C3=B6rg?= Zo\xc3\xab\nX-Word: =?utf-8?q?bad_=E9?=\nX-Cut: caf\xc3\xa9 \xd1\n\nbody\n"
	out := showOne(t, msg, "p 1\n")
	wantInOrder(t, "p 1", out,
		"From: Jörg <j@example.org>\n",
		"Subject: Formação “x” \uFFFD\n")
	out = showOne(t, msg, "retain x-utf8 x-word x-cut\np 1\n")
	wantInOrder(t, "p 1", out, "X-Utf8: Jörg Zoë\n", "X-Word: bad \uFFFD\n", "X-Cut: café \uFFFD\n")
	out = showOne(t, msg, "h\n")
	if !strings.Contains(out, "Formação") {
		t.Errorf("the header summary does not show the subject in Latin-1:\n%s", out)
	}
}

// A UTF-16 text is shown without its byte order mark.
func TestUTF16BOMDropped(t *testing.T) {
	for _, c := range []struct{ cs, b64 string }{
		{"utf-16", "//5oAOkAbABsAG8AIAB1AHQAZgAxADYAIAATJw=="}, // FF FE, little endian
		{"utf-16", "/v8AaADpAGwAbABvACAAdQB0AGYAMQA2ACAnEw=="}, // FE FF, big endian
		{"utf-16le", "//5oAOkAbABsAG8AIAB1AHQAZgAxADYAIAATJw=="},
		{"utf-16be", "/v8AaADpAGwAbABvACAAdQB0AGYAMQA2ACAnEw=="},
	} {
		msg := oddHead + "Content-Type: text/plain; charset=" + c.cs + "\nContent-Transfer-Encoding: base64\n\n" + c.b64 + "\n"
		out := showOne(t, msg, "p 1\n")
		if !strings.Contains(out, "\n\nhéllo utf16 ✓\n") || strings.Contains(out, "\uFEFF") {
			t.Errorf("%s %s: p 1 printed:\n%q", c.cs, c.b64, out)
		}
	}
}

// A UTF-7 text (RFC 2152) is decoded, in a body and in an encoded word.
func TestUTF7Decoded(t *testing.T) {
	msg := "From: a@example.org\nSubject: =?utf-7?q?caf+AOk-?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-7\nContent-Transfer-Encoding: 7bit\n\ncaf+AOk utf7 1+-1=2 +ZeVnLIqe-\n"
	out := showOne(t, msg, "p 1\n")
	wantInOrder(t, "p 1", out, "Subject: café\n\ncafé utf7 1+1=2 日本語\n")
}
