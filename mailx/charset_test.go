package mailx

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// unknownNote is the line mail shows before a text part whose charset it
// does not know and whose bytes are not all UTF-8.
func unknownNote(cs string) string {
	return "[-- unknown charset " + cs + ": shown as it is, bytes that are not UTF-8 replaced --]\n"
}

// A text part in a charset mail does not know (a private one, a
// misspelt one) whose bytes are not UTF-8 is shown as its bytes are,
// invalid UTF-8 and control characters made visible as in any other
// text, after a note naming the charset, by p, P and top, and the parts
// after it are shown too. It was shown empty, without the note, and a
// part in it ended the multipart.
func TestUnknownCharsetShown(t *testing.T) {
	mime := "From: a@example.org\nTo: b@example.org\nSubject: odd charset\nMIME-Version: 1.0\n"
	cases := []struct {
		name, msg string
		want      []string // in this order, in what p 1 prints
	}{
		{
			name: "private",
			msg:  mime + "Content-Type: text/plain; charset=\"x-unknown-42\"\nContent-Transfer-Encoding: 8bit\n\nascii \xe9\xe8 and more caf\xc3\xa9\nbell\a esc\x1b[31m end\n",
			want: []string{"\n\n" + unknownNote("x-unknown-42") + "ascii \uFFFD\uFFFD and more café\nbell? esc?[31m end\n"},
		},
		{
			name: "misspelt-qp",
			msg:  mime + "Content-Type: text/plain; charset=iso-8859-1x\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9 cr=E8me =\nsoft break\n",
			want: []string{unknownNote("iso-8859-1x") + "caf\uFFFD cr\uFFFDme soft break\n"},
		},
		{
			name: "part",
			msg: mime + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=x-nowhere\n\n\xe9t\xe9 here\n" +
				"--b\nContent-Type: text/plain\n\nsecond part\n--b\nContent-Type: image/png\n\nPNG\n--b--\n",
			want: []string{"[-- #1.1 text/plain --]\n" + unknownNote("x-nowhere") + "\uFFFDt\uFFFD here\n", "[-- #1.2 text/plain --]\nsecond part\n", "[-- #1.3 image/png, 3 bytes --]\n"},
		},
	}
	// Real Shift_JIS mail with its charset misspelt: every line of its
	// body is shown.
	corpus := filepath.Join(testenv.Root(), "..", "shared", "corpus", "messages", "mikel-mail-japanese_shift_jis.eml")
	var sjisLines int
	if raw, err := os.ReadFile(corpus); err == nil {
		if !bytes.Contains(raw, []byte(`charset="Shift_JIS"`)) {
			t.Fatalf("%s: no charset=\"Shift_JIS\" to misspell", corpus)
		}
		_, body := splitMessage(raw)
		sjisLines = bytes.Count(body, []byte("\n"))
		cases = append(cases, struct {
			name, msg string
			want      []string
		}{
			name: "corpus-shift-jis-misspelt",
			msg:  string(bytes.Replace(raw, []byte(`charset="Shift_JIS"`), []byte(`charset="Shift_JS"`), 1)),
			want: []string{"\n\n" + unknownNote("Shift_JS")},
		})
	} else {
		t.Logf("no corpus message %s: only the made messages are shown", corpus)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHome(t)
			plantMaildir(t, h.path("Maildir"), c.msg)
			out, stderr, code := h.mail(t, "p 1\n", "-N", "-f", "Maildir/")
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			rest := out
			for _, w := range c.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("p 1 does not show %q (in order); it printed:\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if strings.HasPrefix(c.name, "corpus") {
				_, body, _ := strings.Cut(out, "\n\n"+unknownNote("Shift_JS"))
				body, _, _ = strings.Cut(body, "Held 1 message")
				if n := strings.Count(body, "\n"); n != sjisLines || !strings.Contains(body, "\uFFFD") {
					t.Fatalf("the body shows %d lines, want %d, with U+FFFD for the Shift_JIS bytes:\n%s", n, sjisLines, out)
				}
			}
			// P shows the same body; top its first lines, the note
			// first among them.
			out, _, _ = h.mail(t, "P 1\n", "-N", "-f", "Maildir/")
			if !strings.Contains(out, c.want[0]) {
				t.Errorf("P 1 does not show %q; it printed:\n%s", c.want[0], out)
			}
			out, _, _ = h.mail(t, "set toplines=2\ntop 1\n", "-N", "-f", "Maildir/")
			_, body, _ := strings.Cut(out, "\n\n")
			body, _, _ = strings.Cut(body, "Held 1 message")
			if !strings.Contains(body, "unknown charset") || strings.Count(body, "\n") != 2 {
				t.Errorf("top 1 with toplines=2 does not show the note and one more line; it printed:\n%s", out)
			}
		})
	}
}

// An address whose name is an encoded word in an unknown charset, not
// UTF-8 (a reply to such a sender), is kept as it is written: its bytes
// are not relabelled UTF-8.
func TestUnknownCharsetAddressKept(t *testing.T) {
	for _, a := range []string{
		"=?x-nowhere?q?caf=E9?= <a@example.org>",
		"=?Shift_JS?b?grGC8Q==?= <b@example.org>",
	} {
		if got := formatAddrs([]string{a}); got != a {
			t.Errorf("formatAddrs(%q) = %q, want it as it is", a, got)
		}
	}
	// One that is UTF-8 reads as UTF-8, as before.
	if got := formatAddrs([]string{"=?x-nowhere?q?caf=C3=A9?= <a@example.org>"}); got != "=?utf-8?q?caf=C3=A9?= <a@example.org>" {
		t.Errorf("formatAddrs of a UTF-8 name in an unknown charset = %q", got)
	}
}
