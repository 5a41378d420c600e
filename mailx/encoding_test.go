package mailx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// wantEncodingNote is the line mail shows before a text part whose
// Content-Transfer-Encoding it does not know.
func wantEncodingNote(name string) string {
	return "[-- unknown transfer encoding " + name + ": shown as stored --]\n"
}

// unknownEncodingMsgs are messages with a Content-Transfer-Encoding
// that go-message does not decode: the second of three parts in a
// multipart (x-uuencode, as old Eudora and Mac mailers wrote), a typo
// (8bits) on a part that is listed, and a whole message in one
// (binhex). want is what p 1 shows of each, in this order.
var unknownEncodingMsgs = []struct {
	name, msg string
	want      []string
}{
	{
		name: "second-of-three",
		msg: "From: a@example.org\nTo: b@example.org\nSubject: uuencoded\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n" +
			"--b\nContent-Type: text/plain\n\nfirst part\n" +
			"--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 f.txt\n%:&5L;&\\*\n`\nend\ncaf\xe9 bell\a =E9\n" +
			"--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nthird caf=C3=A9\n--b--\n",
		want: []string{
			"[-- #1.1 text/plain --]\nfirst part\n",
			"[-- #1.2 text/plain --]\n" + wantEncodingNote("x-uuencode") + "begin 644 f.txt\n%:&5L;&\\*\n`\nend\ncafé bell? =E9\n",
			"[-- #1.3 text/plain --]\nthird café\n",
		},
	},
	{
		name: "typo-listed-part",
		msg: "From: a@example.org\nSubject: typo\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n" +
			"--b\nContent-Type: text/plain; charset=x-nowhere\nContent-Transfer-Encoding: 8bits\n\n\xe9t\xe9 =E9\n" +
			"--b\nContent-Type: image/png\nContent-Transfer-Encoding: BinHex\nContent-Disposition: attachment; filename=p.png\n\nPNGDATA\n" +
			"--b\nContent-Type: text/plain\n\nlast part\n--b--\n",
		want: []string{
			"[-- #1.1 text/plain --]\n" + wantEncodingNote("8bits") + "[-- unknown charset x-nowhere: shown as it is, bytes that are not UTF-8 replaced --]\n\uFFFDt\uFFFD =E9\n",
			"[-- #1.2 image/png, 7 bytes, \"p.png\" --]\n",
			"[-- #1.3 text/plain --]\nlast part\n",
		},
	},
	{
		name: "top-level",
		msg:  "From: a@example.org\nSubject: binhex\nMIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: binhex\n\nraw =E9 text \xe9\nesc\x1b[31m\n",
		want: []string{"\n\n" + wantEncodingNote("binhex") + "raw =E9 text é\nesc?[31m\n"},
	},
}

// A part whose Content-Transfer-Encoding mail does not know (x-uuencode,
// binhex, a typo) is shown as it is stored, through the filter of any
// other text, after a note naming the encoding, by p, P and top, and the
// parts after it are shown too: the part ended the multipart, and it and
// every later part were neither shown nor listed. A whole message in
// such an encoding is shown the same way.
func TestUnknownEncodingShown(t *testing.T) {
	for _, c := range unknownEncodingMsgs {
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
			out, _, _ = h.mail(t, "P 1\n", "-N", "-f", "Maildir/")
			if !strings.Contains(out, c.want[len(c.want)-1]) || !strings.Contains(out, "unknown transfer encoding") {
				t.Errorf("P 1 does not show the note and %q; it printed:\n%s", c.want[len(c.want)-1], out)
			}
			// top stops after toplines body lines: the note is one.
			out, _, _ = h.mail(t, "set toplines=50\ntop 1\n", "-N", "-f", "Maildir/")
			if !strings.Contains(out, c.want[len(c.want)-1]) || !strings.Contains(out, "unknown transfer encoding") {
				t.Errorf("top 1 does not show the note and %q; it printed:\n%s", c.want[len(c.want)-1], out)
			}
		})
	}
}

// save, copy, write and pipe do not decode: a message with a part in an
// unknown transfer encoding is copied whole, as stored.
func TestUnknownEncodingCopiedAsStored(t *testing.T) {
	msg := unknownEncodingMsgs[0].msg
	h := newHome(t)
	plantMaildir(t, h.path("Maildir"), msg)
	cmds := "save 1 saved/\ncopy 1 copied.mbox\nwrite 1 body.txt\npipe 1 'cat > piped.eml'\n"
	if out, stderr, code := h.mail(t, cmds, "-N", "-f", "Maildir/"); code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q, out:\n%s", code, stderr, out)
	}
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(h.path(p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	files, err := filepath.Glob(h.path("saved/new/*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("saved/new holds %v (%v), want one message", files, err)
	}
	if got := read(filepath.Join("saved/new", filepath.Base(files[0]))); got != msg {
		t.Errorf("save into a Maildir wrote %q, want the message as stored", got)
	}
	mbox := read("copied.mbox")
	if _, got, _ := strings.Cut(mbox, "\n"); !strings.HasPrefix(mbox, "From ") || strings.TrimSuffix(got, "\n") != msg {
		t.Errorf("copy into an mbox wrote %q, want a From_ line and the message as stored", mbox)
	}
	_, body, _ := strings.Cut(msg, "\n\n")
	if got := read("body.txt"); got != body {
		t.Errorf("write wrote %q, want the body as stored", got)
	}
	if got := read("piped.eml"); got != msg {
		t.Errorf("pipe gave %q, want the message as stored", got)
	}
}

// knownEncoding knows the encodings go-message decodes, and only them.
func TestKnownEncodingAsGoMessage(t *testing.T) {
	for _, enc := range []string{"", "7bit", "8bit", "binary", "base64", "quoted-printable", "BASE64", "Quoted-Printable", "8Bit",
		"8bits", "x-uuencode", "binhex", "uuencode", "7-bit", " base64", "base64 (comment)", "x-weird"} {
		hdr := message.Header{}
		hdr.Set("Content-Type", "application/octet-stream")
		if enc != "" {
			hdr.Set("Content-Transfer-Encoding", enc)
		}
		_, err := message.New(hdr, strings.NewReader(""))
		if want := !message.IsUnknownEncoding(err); knownEncoding(hdr.Get("Content-Transfer-Encoding")) != want {
			t.Errorf("knownEncoding(%q) = %v, go-message decodes it: %v", enc, !want, want)
		}
	}
}
