package mailx

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"strings"
	"testing"
)

// A text attachment names its charset: without one a reader takes it
// for US-ASCII (RFC 2046 4.1.2), and Python's email read a UTF-8 file
// attached with -a as mojibake. UTF-8 is "utf-8", ASCII "us-ascii"; the
// whole file counts, not only its first 8 KiB. Text in 8 bits without a
// UTF-8 character in it (Latin-1) is "iso-8859-1", or "windows-1252"
// with that charset's typographic marks: it went as
// application/octet-stream, which a reader saves rather than shows. What
// has no charset that can be named for sure (UTF-8 with a stray byte, a
// NUL byte, control bytes or a byte windows-1252 leaves undefined in 8
// bits, a UTF-16 byte order mark) is application/octet-stream, unless
// its type was given. A charset given with --content-type stays, any
// charset. Every file is sent as its very bytes.
func TestAttachmentCharset(t *testing.T) {
	h := newHome(t)
	long := append(bytes.Repeat([]byte("ascii line\n"), 1000), "and then ü\n"...)
	longLatin := append(bytes.Repeat([]byte("ascii line\n"), 1000), "and then \xfc\n"...)
	files := []struct {
		name, data, ctype, want string
	}{
		{"anhang-ü.txt", "Ünïcode attachment text ü\n", "", "text/plain; charset=utf-8"},
		{"noext", "日本語のテキスト\n", "", "text/plain; charset=utf-8"},
		{"latin.txt", "Caf\xe9 cr\xe8me\n", "", "text/plain; charset=iso-8859-1"},
		{"cp1252.txt", "\x93Caf\xe9\x94;\x80 5\r\n", "", "text/plain; charset=windows-1252"},
		{"latin-end.txt", "Caf\xe9", "", "text/plain; charset=iso-8859-1"},
		{"long-latin.txt", string(longLatin), "", "text/plain; charset=iso-8859-1"},
		{"ascii.txt", "plain\n", "", "text/plain; charset=us-ascii"},
		{"stray.txt", "Grüße \xff\n", "", "application/octet-stream"},
		{"cut.txt", "Grüße \xc3", "", "application/octet-stream"},
		{"undefined.txt", "x\x81y\xe9\n", "", "application/octet-stream"},
		{"control.txt", "Caf\xe9\x01\x02\n", "", "application/octet-stream"},
		{"nul.txt", "plain\x00text\n", "", "application/octet-stream"},
		{"utf16.txt", "\xff\xfe\xe9\x30\xfc\x30", "", "application/octet-stream"},
		{"long", string(long), "", "text/plain; charset=utf-8"},
		{"page.html", "<p>Grüße</p>\n", "", "text/html; charset=utf-8"},
		{"given", "Grüße\n", "text/plain; charset=UTF-8", "text/plain; charset=UTF-8"},
		{"given-latin2", "\xb1\xe6\n", "text/plain; charset=iso-8859-2", "text/plain; charset=iso-8859-2"},
		{"typed", "Grüße\n", "text/x-log", "text/x-log; charset=utf-8"},
		{"typed-latin", "Gr\xfc\xdfe\n", "text/x-log", "text/x-log; charset=iso-8859-1"},
		{"typed-nul", "a\x00\n", "text/x-log", "text/x-log"},
		{"bin", "\xff\xfe\xfd", "", "application/octet-stream"},
	}
	args := []string{"-s", "att"}
	for _, f := range files {
		if err := os.WriteFile(h.path(f.name), []byte(f.data), 0o600); err != nil {
			t.Fatal(err)
		}
		if f.ctype != "" {
			args = append(args, "--content-type="+f.ctype, "-A", h.path(f.name))
		} else {
			args = append(args, "-a", h.path(f.name))
		}
	}
	if _, e, code := h.mail(t, "body\n", append(args, "root")...); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	q := h.only(t)
	_, params, err := mime.ParseMediaType(q.msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(strings.NewReader(q.body), params["boundary"])
	if _, err := mr.NextPart(); err != nil { // the text
		t.Fatal(err)
	}
	for _, f := range files {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if got := p.Header.Get("Content-Type"); got != f.want {
			t.Errorf("%s: Content-Type %q, want %q", f.name, got, f.want)
		}
		b, _ := io.ReadAll(p)
		if b, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), "")); err != nil || string(b) != f.data {
			t.Errorf("%s: content %q (%v), want the file's bytes", f.name, b, err)
		}
	}
	// As Python's email reads it.
	eml := h.path("queued.eml")
	os.WriteFile(eml, []byte(q.raw), 0o600)
	out := python(t, `
import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
for part in list(m.iter_attachments())[:2]:
    print(part.get_content(), end='')
`, eml)
	if want := files[0].data + files[1].data; out != want {
		t.Errorf("python reads %q, want %q", out, want)
	}
	// The Latin-1 and windows-1252 texts, as Python's email shows them
	// and as it saves them.
	out = python(t, `
import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
for part in list(m.iter_attachments())[2:5]:
    print(repr(part.get_content()), part.get_payload(decode=True).hex())
`, eml)
	want := "'Café crème\\n' 436166e9206372e86d650a\n" + "'“Café”;€ 5\\r\\n' 93436166e9943b8020350d0a\n" + "'Café' 436166e9\n"
	if out != want {
		t.Errorf("python reads %q, want %q", out, want)
	}
}

// A content type that is not one is refused with the reason (exit 64),
// not sent as an empty Content-Type field (what a --content-type with
// parameters gave), and before the body is read: found as the message
// was built, it left the text in dead.letter.
func TestAttachmentTypeRefused(t *testing.T) {
	h := newHome(t)
	os.WriteFile(h.path("f"), []byte("Gr\xfc\xdfe\n"), 0o600)
	_, e, code := h.mail(t, "body\n", "--content-type=not a type", "-A", h.path("f"), "root")
	if code != 64 || !strings.Contains(e, "content type") {
		t.Errorf("exit %d, %q; want 64 and an error with %q", code, e, "content type")
	}
	// Refused before the body is read: nothing is left in dead.letter.
	if _, err := os.Stat(h.path("dead.letter")); err == nil {
		t.Error("the text was saved to dead.letter")
	}
}

// A file that cannot be read twice (a pipe: mail -a <(cmd)) is judged by
// its first 8 KiB, and sent whole.
func TestAttachCharsetPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data := append(bytes.Repeat([]byte("x"), 9000), "ü"...)
	go func() { w.Write(data); w.Close() }()
	head := make([]byte, 8193)
	n, _ := io.ReadFull(r, head)
	if cs, err := attachCharset(r, head[:n]); err != nil || cs != "us-ascii" {
		t.Errorf("attachCharset = %q, %v", cs, err)
	}
	rest, _ := io.ReadAll(r)
	if got := append(head[:n], rest...); !bytes.Equal(got, data) {
		t.Errorf("read %d bytes of %d", len(got), len(data))
	}
}
