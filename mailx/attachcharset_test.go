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
// whole file counts, not only its first 8 KiB. Text in 8 bits that is
// not UTF-8 (Latin-1, UTF-8 with a stray byte) has no charset that can
// be named for sure: it is application/octet-stream, unless its type was
// given. A charset given with --content-type stays; the bytes are sent
// as they are.
func TestAttachmentCharset(t *testing.T) {
	h := newHome(t)
	long := append(bytes.Repeat([]byte("ascii line\n"), 1000), "and then ü\n"...)
	files := []struct {
		name, data, ctype, want string
	}{
		{"anhang-ü.txt", "Ünïcode attachment text ü\n", "", "text/plain; charset=utf-8"},
		{"noext", "日本語のテキスト\n", "", "text/plain; charset=utf-8"},
		{"ascii.txt", "plain\n", "", "text/plain; charset=us-ascii"},
		{"latin.txt", "Caf\xe9 cr\xe8me\n", "", "application/octet-stream"},
		{"stray.txt", "Grüße \xff\n", "", "application/octet-stream"},
		{"cut.txt", "Grüße \xc3", "", "application/octet-stream"},
		{"long", string(long), "", "text/plain; charset=utf-8"},
		{"page.html", "<p>Grüße</p>\n", "", "text/html; charset=utf-8"},
		{"given", "Grüße\n", "text/plain; charset=UTF-8", "text/plain; charset=UTF-8"},
		{"typed", "Grüße\n", "text/x-log", "text/x-log; charset=utf-8"},
		{"typed-latin", "Gr\xfc\xdfe\n", "text/x-log", "text/x-log"},
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
}

// A charset that cannot be written is refused with the reason, not sent
// as an empty Content-Type field (what a --content-type with parameters
// gave), and so is a content type that is not one.
func TestAttachmentTypeRefused(t *testing.T) {
	h := newHome(t)
	os.WriteFile(h.path("f"), []byte("Gr\xfc\xdfe\n"), 0o600)
	for ctype, want := range map[string]string{
		"text/plain; charset=iso-8859-2": "UTF-8 or US-ASCII only",
		"not a type":                     "content type",
	} {
		_, e, code := h.mail(t, "body\n", "--content-type="+ctype, "-A", h.path("f"), "root")
		if code == 0 || !strings.Contains(e, want) {
			t.Errorf("--content-type=%q: exit %d, %q; want an error with %q", ctype, code, e, want)
		}
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
