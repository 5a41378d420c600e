package mailx

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/maildir"
)

// maxReadRSS bounds the peak memory of read mode showing, piping or
// copying a 50 MB message: it holds buffers, never the message.
const maxReadRSS = 40 << 20

// bigMessages writes two messages of about 50 MB: a plain text one, and
// a multipart one with an ISO-8859-1 quoted-printable text of 8 MB and
// a base64 attachment of 40 MB. It returns their paths and the digest
// of the plain one's body.
func bigMessages(t *testing.T, dir string) (plain, multi string, body [32]byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	plain = filepath.Join(dir, "plain.eml")
	f, err := os.Create(plain)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	bw.WriteString("From: Big <big@example.org>\nTo: me@example.org\nSubject: big plain\nDate: Mon, 2 Mar 2026 10:00:00 +0000\n\n")
	sum := sha256.New()
	w := io.MultiWriter(bw, sum)
	// Lines from a pool of random ones: cheap to make, and a "From "
	// line now and then for mboxrd quoting.
	pool := make([][]byte, 1024)
	for k := range pool {
		pool[k] = make([]byte, 100)
		for i := range 99 {
			pool[k][i] = 'a' + byte(r.IntN(26))
		}
		pool[k][99] = '\n'
	}
	copy(pool[0], "From here")
	for n := 0; n < 50<<20; n += 100 {
		w.Write(pool[(n/100)%len(pool)])
	}
	bw.Flush()
	f.Close()
	copy(body[:], sum.Sum(nil))

	multi = filepath.Join(dir, "multi.eml")
	f, err = os.Create(multi)
	if err != nil {
		t.Fatal(err)
	}
	bw = bufio.NewWriterSize(f, 64<<10)
	bw.WriteString("From: Big <big@example.org>\nTo: me@example.org\nSubject: big multipart\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n")
	qp := quotedprintable.NewWriter(bw)
	text := []byte("caf\xe9 cr\xe8me br\xfbl\xe9e, line of latin-1 text\n")
	for n := 0; n < 8<<20; n += len(text) {
		qp.Write(text)
	}
	qp.Close()
	bw.WriteString("\n--b\nContent-Type: application/octet-stream; name=\"data.bin\"\nContent-Transfer-Encoding: base64\n\n")
	enc := base64.NewEncoder(base64.StdEncoding, &lineBreaker{w: bw})
	buf := make([]byte, 57*1024)
	cc := rand.NewChaCha8([32]byte{5, 6})
	for n := 0; n < 40<<20; n += len(buf) {
		cc.Read(buf)
		enc.Write(buf)
	}
	enc.Close()
	bw.WriteString("\n--b--\n")
	bw.Flush()
	f.Close()
	return plain, multi, body
}

// lineBreaker breaks base64 into lines of 76.
type lineBreaker struct {
	w   io.Writer
	col int
}

func (l *lineBreaker) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(76-l.col, len(p))
		l.w.Write(p[:k])
		p, l.col = p[k:], l.col+k
		if l.col == 76 {
			l.w.Write([]byte{'\n'})
			l.col = 0
		}
	}
	return n, nil
}

// Read mode shows, pipes and copies a 50 MB message, from a Maildir and
// from an mbox, in memory that does not grow with it; what it shows and
// writes is the message.
func TestReadLargeInConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 500 MB")
	}
	dir := t.TempDir()
	plain, multi, body := bigMessages(t, dir)
	data := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	h := newHome(t)
	md := h.path("Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	for i, p := range []string{plain, multi} {
		if err := os.Link(p, filepath.Join(md, "new", fmt.Sprintf("170000000%d.M1P1.test", i))); err != nil {
			t.Fatal(err)
		}
	}
	mbox := h.path("box")
	for _, p := range []string{plain, multi} {
		header, rest := splitMessage(data(p))
		if err := maildir.Mbox(mbox).Append("big@example.org", time.Now(), header, bytes.NewReader(rest)); err != nil {
			t.Fatal(err)
		}
	}
	run := func(box, script string, out io.Writer) int64 {
		t.Helper()
		in := filepath.Join(dir, "script")
		if err := os.WriteFile(in, []byte(script+"\nx\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return h.mailRSSTo(t, in, out, "-N", "-f", box)
	}
	check := func(what string, rss int64) {
		t.Helper()
		t.Logf("%s: peak RSS %d MB", what, rss>>20)
		if rss > maxReadRSS {
			t.Errorf("%s of a 50 MB message: peak RSS %d MB, want at most %d MB", what, rss>>20, maxReadRSS>>20)
		}
	}
	for _, box := range []string{"Maildir/", "box"} {
		// p shows the plain body as it is, after the header.
		var shown bodyAfter
		shown.sum = sha256.New()
		check(box+": p 1", run(box, "p 1", &shown))
		var got [32]byte
		copy(got[:], shown.sum.Sum(nil))
		if got != body || !strings.Contains(shown.head.String(), "Subject: big plain\n") {
			t.Errorf("%s: p 1 did not show the body as it is (%d bytes): %q", box, shown.n, shown.head.String())
		}
		var out bytes.Buffer
		check(box+": p 2", run(box, "p 2", &out))
		if s := out.String(); !strings.Contains(s, "café crème brûlée, line of latin-1 text\n") ||
			!strings.Contains(s, "[-- #1.2 application/octet-stream, 4") || !strings.Contains(s, `, "data.bin" --]`) {
			t.Errorf("%s: p 2 shows %d bytes: %.300q ... %q", box, len(s), s, s[max(0, len(s)-200):])
		}
		out.Reset()
		check(box+": top", run(box, "top 1 2", &out))
		if !strings.Contains(out.String(), "From here") {
			t.Errorf("%s: top: %q", box, out.String())
		}
		check(box+": pipe", run(box, "pipe 1 2 cat >> "+filepath.Join(dir, box[:3]+"piped"), io.Discard))
		if got := fileSum(t, filepath.Join(dir, box[:3]+"piped")); got != sha256.Sum256(append(data(plain), data(multi)...)) {
			t.Errorf("%s: pipe: the messages piped differ from the ones stored", box)
		}
		os.Remove(filepath.Join(dir, box[:3]+"piped"))
		for _, c := range []string{"s", "w"} { // c copies as s does
			target := filepath.Join(dir, box[:3]+c)
			check(box+": "+c, run(box, c+" 1 2 "+target, io.Discard))
			st, err := os.Stat(target)
			if err != nil || st.Size() < 100<<20 {
				t.Errorf("%s: %s wrote %v", box, c, err)
			}
			if c != "s" {
				os.Remove(target) // the disk the test takes
			}
		}
		saved := filepath.Join(dir, box[:3]+"s")
		got = sha256.Sum256(nil)
		if b := data(saved); bytes.HasPrefix(b, []byte("From big@example.org ")) {
			_, rest := splitMessage(b[bytes.IndexByte(b, '\n')+1:])
			got = sha256.Sum256(rest[:bytes.Index(rest, []byte("\n\nFrom big@example.org "))+1])
		}
		_, plainBody := splitMessage(data(plain))
		if got != sha256.Sum256(quoteFrom(plainBody)) {
			t.Errorf("%s: s: the body saved differs from the one stored", box)
		}
		os.Remove(saved)
	}
	// A reply reads the header of the message it answers, not all of
	// it (for one that quotes it, see TestReplyQuoteLargeInBoundedMemory).
	check("R", run("Maildir/", "unset quote\nR 1\nthanks\n.", io.Discard))
	if q := h.only(t); q.msg.Header.Get("Subject") != "Re: big plain" || q.body != "thanks\n" {
		t.Errorf("reply: %q, %d bytes", q.msg.Header.Get("Subject"), len(q.body))
	}
	// Moving read messages to ~/mbox on quit copies them the same way.
	in := filepath.Join(dir, "script")
	os.WriteFile(in, []byte("mb 1 2\nq\n"), 0o600)
	check("mb, quit", h.mailRSSTo(t, in, io.Discard, "-N"))
	if st, err := os.Stat(h.path("mbox")); err != nil || st.Size() < 100<<20 {
		t.Errorf("~/mbox after quit: %v", err)
	}
}

// quoteFrom is mboxrd quoting.
func quoteFrom(b []byte) []byte {
	lines := bytes.SplitAfter(b, []byte{'\n'})
	for i, l := range lines {
		if bytes.HasPrefix(bytes.TrimLeft(l, ">"), []byte("From ")) {
			lines[i] = append([]byte{'>'}, l...)
		}
	}
	return bytes.Join(lines, nil)
}

// bodyAfter digests what follows the first empty line written to it,
// keeping what comes before.
type bodyAfter struct {
	head bytes.Buffer
	sum  interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
	inBody bool
	n      int64
}

func (b *bodyAfter) Write(p []byte) (int, error) {
	n := len(p)
	if !b.inBody {
		b.head.Write(p)
		i := bytes.Index(b.head.Bytes(), []byte("\n\n"))
		if i < 0 {
			return n, nil
		}
		b.inBody = true
		p = bytes.Clone(b.head.Bytes()[i+2:])
		b.head.Truncate(i + 2)
	}
	b.n += int64(len(p))
	b.sum.Write(p)
	return n, nil
}

// A message whose header section is 50 MB (short fields, and one field
// of 6 MB) is shown and copied in bounded memory too: its fields one at
// a time, the long one cut, its body as stored.
func TestReadHugeHeaderInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MB")
	}
	h := newHome(t)
	md := h.path("Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	f, err := os.Create(filepath.Join(md, "new", "1700000000.M1P1.test"))
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	bw.WriteString("From: Big <big@example.org>\nSubject: huge header\nContent-Type: multipart/mixed; boundary=b\n")
	for i := range 600000 {
		fmt.Fprintf(bw, "X-Filler-%d: %s\n", i, strings.Repeat("f", 70))
	}
	bw.WriteString("X-Long: " + strings.Repeat("w ", 3<<20) + "\n\n--b\nbody as stored\n--b--\n")
	bw.Flush()
	f.Close()
	dir := t.TempDir()
	run := func(script string) (string, int64) {
		t.Helper()
		in := filepath.Join(dir, "script")
		os.WriteFile(in, []byte(script+"\nx\n"), 0o600)
		var out bytes.Buffer
		rss := h.mailRSSTo(t, in, &out, "-N", "-f", "Maildir/")
		t.Logf("%s: peak RSS %d MB", script, rss>>20)
		if rss > maxReadRSS {
			t.Errorf("%s of a message with a 50 MB header: peak RSS %d MB, want at most %d MB", script, rss>>20, maxReadRSS>>20)
		}
		return out.String(), rss
	}
	out, _ := run("p")
	if !strings.Contains(out, "Subject: huge header\n\n--b\nbody as stored\n--b--\n") {
		t.Errorf("p: %.300q", out)
	}
	out, _ = run("P")
	if !strings.Contains(out, "X-Filler-599999: ") || !strings.Contains(out, " more bytes not shown --]\n\n--b\nbody as stored\n") {
		t.Errorf("P: %d bytes, tail %q", len(out), out[max(0, len(out)-200):])
	}
	run("s " + filepath.Join(dir, "saved"))
	if st, err := os.Stat(filepath.Join(dir, "saved")); err != nil || st.Size() < 50<<20 {
		t.Errorf("s: %v", err)
	}
}
