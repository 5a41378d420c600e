package submit

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"

	"homepost/outbox"
)

// A header section larger than MaxHeader is passed through, but Bcc
// stays secret: a Bcc field after the part held in memory is removed
// all the same, and -t refuses a recipient field it cannot read rather
// than miss its recipients.
func TestHugeHeaderKeepsBccSecret(t *testing.T) {
	big := "X-Big: " + strings.Repeat("a", MaxHeader+10) + "\n"
	for _, crlf := range []bool{false, true} {
		msg := "To: a@remote.example\nSubject: big\n" + big + "Bcc: secret@remote.example,\n another@remote.example\nX-After: kept\n\nbody\n.\nmore\n"
		want := "To: a@remote.example\nSubject: big\n" + big + "X-After: kept\n\nbody\n.\nmore\n"
		if crlf {
			msg = strings.ReplaceAll(msg, "\n", "\r\n")
		}
		body, env := submitted(t, Options{Recipients: []string{"b"}, IgnoreDots: true}, msg)
		if strings.Contains(body, "secret@") || strings.Contains(body, "another@") {
			t.Errorf("crlf=%v: Bcc leaked after a huge header", crlf)
		}
		if body != want {
			t.Errorf("crlf=%v: huge header changed: %d bytes, want %d; tail %q", crlf, len(body), len(want), body[max(0, len(body)-80):])
		}
		if len(env.Rcpts) != 1 || env.Rcpts[0].Addr != "b" {
			t.Errorf("recipients %+v", env.Rcpts)
		}
	}
	// A Bcc field that is itself huge goes too.
	msg := "Subject: x\nBcc: " + strings.Repeat("s", MaxHeader+10) + "@remote.example\nX-After: kept\n\nbody\n"
	body, _ := submitted(t, Options{Recipients: []string{"b"}, IgnoreDots: true}, msg)
	if body != "Subject: x\nX-After: kept\n\nbody\n" {
		t.Errorf("huge Bcc: %d bytes: %q...", len(body), body[:min(len(body), 60)])
	}
	// -t cannot take recipients from beyond MaxHeader: a clear error.
	cfg := testConfig(t)
	_, err := Submit(cfg, Options{Extract: true, IgnoreDots: true}, strings.NewReader("To: a@x\n"+big+"Cc: c@x\n\nbody\n"))
	var de *DataError
	if !errors.As(err, &de) {
		t.Errorf("-t with a recipient field after a huge header: %v", err)
	}
	if names, _ := outbox.Dir(cfg.Outbox).Names("new"); len(names) != 0 {
		t.Errorf("refused message queued: %v", names)
	}
	// Without a recipient field after it, -t still works.
	body, env := submitted(t, Options{Extract: true, IgnoreDots: true}, "To: a@x\n"+big+"\nbody\n")
	if len(env.Rcpts) != 1 || env.Rcpts[0].Addr != "a@x" || !strings.HasSuffix(body, "\n\nbody\n") {
		t.Errorf("-t with a huge header: %+v", env.Rcpts)
	}
	// Without -i a line holding a dot still ends the message, and the
	// rest of the huge line is not mistaken for one.
	body, _ = submitted(t, Options{Recipients: []string{"b"}}, "Subject: x\n"+big[:len(big)-1]+".\nX-After: 1\n\nbody\n.\nnot sent\n")
	if !strings.HasSuffix(body, ".\nX-After: 1\n\nbody\n") {
		t.Errorf("dots: tail %q", body[max(0, len(body)-60):])
	}
}

// FuzzCopyHugeHeader: streaming a header section that did not fit in
// memory changes nothing but CRLF into LF when there is no Bcc field,
// however the reads split the lines.
func FuzzCopyHugeHeader(f *testing.F) {
	f.Add([]byte("X-Big: aaaa\r\nTo: b\r\n\tfolded\r\n\r\nbody\r\n.\r\nx"), 3)
	f.Add([]byte("Subject: a\rb\nnot a field\nmore\r"), 9)
	f.Add([]byte("X: 1\n\n"), 1)
	f.Fuzz(func(t *testing.T, data []byte, k int) {
		if k <= 0 || k > len(data) || bytes.IndexByte(data[:k], '\n') >= 0 || bytes.Contains(bytes.ToLower(data), []byte("bcc")) {
			return
		}
		first := append([]byte(nil), data[:k]...)
		br := bufio.NewReaderSize(bytes.NewReader(data[k:]), 16)
		var out bytes.Buffer
		if err := copyHugeHeader(&out, br, first, &Header{Huge: true}, Options{IgnoreDots: true}); err != nil {
			t.Fatal(err)
		}
		want := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("in %q (first %d)\nout  %q\nwant %q", data, k, out.Bytes(), want)
		}
	})
}

// FuzzCopyHugeHeaderDots: without -i, a line holding a single dot ends
// the message, in the rest of the header as in the body, and nowhere
// else (not the end of the line that overflowed the header).
func FuzzCopyHugeHeaderDots(f *testing.F) {
	f.Add([]byte("X-Big: aaaa\r\n.\r\nnot sent"), 3)
	f.Add([]byte("X-Big: aaaa.\nTo: b\n\nbody\n.\nx"), 8)
	f.Add([]byte("X-Big: aaaa\n\n..\n.\r\n"), 2)
	f.Fuzz(func(t *testing.T, data []byte, k int) {
		if k <= 0 || k > len(data) || bytes.IndexByte(data[:k], '\n') >= 0 || bytes.Contains(bytes.ToLower(data), []byte("bcc")) {
			return
		}
		if i := bytes.IndexByte(data, '\n'); i >= 0 && (string(data[:i]) == "." || string(data[:i]) == ".\r") {
			return // the overflowing line is never this short
		}
		first := append([]byte(nil), data[:k]...)
		br := bufio.NewReaderSize(bytes.NewReader(data[k:]), 16)
		var out bytes.Buffer
		if err := copyHugeHeader(&out, br, first, &Header{Huge: true}, Options{}); err != nil {
			t.Fatal(err)
		}
		want := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		if i := bytes.Index(want, []byte("\n.\n")); i >= 0 {
			want = want[:i+1]
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("in %q (first %d)\nout  %q\nwant %q", data, k, out.Bytes(), want)
		}
	})
}
