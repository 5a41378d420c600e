package mailx

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxDraftRSS bounds the peak memory of quoting a 50 MB message into a
// reply, or handing one to the editor: the text goes through a
// temporary file, never whole through memory.
const maxDraftRSS = 40 << 20

// bigMaildir makes a Maildir holding the 50 MB plain message of
// bigMessages; it returns the message's path and the digest of its
// body.
func bigMaildir(t *testing.T, h *home) (string, [32]byte) {
	t.Helper()
	md := h.path("Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	plain, _, body := bigMessagesPlain(t, t.TempDir())
	path := filepath.Join(md, "new", "1700000000.M1P1.test")
	if err := os.Rename(plain, path); err != nil {
		t.Fatal(err)
	}
	return path, body
}

// bigMessagesPlain is bigMessages without the multipart message it also
// writes (removed at once, for the disk the test takes).
func bigMessagesPlain(t *testing.T, dir string) (string, string, [32]byte) {
	plain, multi, body := bigMessages(t, dir)
	os.Remove(multi)
	return plain, multi, body
}

// prefixedSum is the digest of text with prefix before each line.
func prefixedSum(t *testing.T, path, prefix string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) < 2 || err != nil {
			break // past the header
		}
	}
	sum := sha256.New()
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			sum.Write([]byte(prefix))
			sum.Write(line)
		}
		if err != nil {
			break
		}
	}
	var out [32]byte
	copy(out[:], sum.Sum(nil))
	return out
}

// A reply that quotes a 50 MB message (r with quote set, ~m, ~f) holds
// the draft in a temporary file: its memory does not grow with the
// message, and the message queued is the quoted text, then what was
// typed.
func TestReplyQuoteLargeInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MB")
	}
	h := newHome(t)
	path, _ := bigMaildir(t, h)
	dir := t.TempDir()
	for _, c := range []struct{ name, script, prefix, first string }{
		{"R", "R 1\nthanks\n.", "> ", "On "},
		{"~m", "m you@example.org\n~m 1\nthanks\n.", "\t", "\t"},
		{"~f", "m you@example.org\n~f 1\nthanks\n.", "", ""},
	} {
		os.RemoveAll(h.path(".local/state/homepost/outbox"))
		in := filepath.Join(dir, "script")
		os.WriteFile(in, []byte(c.script+"\nx\n"), 0o600)
		rss := h.mailRSSTo(t, in, io.Discard, "-N", "-f", "Maildir/")
		t.Logf("%s: peak RSS %d MB", c.name, rss>>20)
		if rss > maxDraftRSS {
			t.Errorf("%s of a 50 MB message: peak RSS %d MB, want at most %d MB", c.name, rss>>20, maxDraftRSS>>20)
		}
		m := h.queuedFile(t)
		msg, err := mail.ReadMessage(bufio.NewReaderSize(m.Body(), 64<<10))
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReaderSize(msg.Body, 64<<10)
		head, _ := br.Peek(200)
		if !strings.HasPrefix(string(head), c.first) {
			t.Errorf("%s: the body starts %q", c.name, head)
		}
		if c.name == "R" {
			br.ReadSlice('\n') // the attribution line
		}
		if c.name == "~m" || c.name == "~f" {
			// ~m and ~f insert the header fields shown, then
			// the body.
			for {
				line, err := br.ReadSlice('\n')
				if err != nil || strings.TrimPrefix(string(line), c.prefix) == "\n" {
					break
				}
			}
		}
		rest := sha256.New()
		// bigMessages writes lines of 100 bytes.
		lines := int64(50<<20+99) / 100
		n, _ := io.Copy(rest, io.LimitReader(br, lines*int64(100+len(c.prefix))))
		tail, _ := io.ReadAll(br)
		if string(tail) != "thanks\n" {
			t.Errorf("%s: after %d bytes of quoted text the body ends %q", c.name, n, tail[:min(len(tail), 200)])
		}
		if got, want := hex.EncodeToString(rest.Sum(nil)), prefixedSum(t, path, c.prefix); got != hex.EncodeToString(want[:]) {
			t.Errorf("%s: the quoted text differs from the message's (%d bytes)", c.name, n)
		}
	}
}

// edit and visual hand a 50 MB message to the editor through a
// temporary file in memory that does not grow with it: the file is the
// message as stored, and an editor that leaves it as it was leaves the
// message as it was.
func TestEditLargeInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50 MB")
	}
	h := newHome(t)
	path, _ := bigMaildir(t, h)
	dir := t.TempDir()
	sums := filepath.Join(dir, "sums")
	h.env = append(h.env, "EDITOR=sha256sum >>"+sums, "VISUAL=sha256sum >>"+sums)
	in := filepath.Join(dir, "script")
	os.WriteFile(in, []byte("e 1\nv 1\nx\n"), 0o600)
	rss := h.mailRSSTo(t, in, io.Discard, "-N", "-f", "Maildir/")
	t.Logf("edit, visual: peak RSS %d MB", rss>>20)
	if rss > maxDraftRSS {
		t.Errorf("edit and visual of a 50 MB message: peak RSS %d MB, want at most %d MB", rss>>20, maxDraftRSS>>20)
	}
	want := fmt.Sprintf("%x", fileSum(t, path))
	got, _ := os.ReadFile(sums)
	if lines := strings.Split(strings.TrimSpace(string(got)), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], want+" ") || !strings.HasPrefix(lines[1], want+" ") {
		t.Errorf("the editor was given %q, want the message (%s) twice", got, want)
	}
	if st, err := os.Stat(path); err != nil || st.Size() < 50<<20 {
		t.Errorf("the message after edit: %v", err)
	}
}

// A draft's body reads as the bytes written to it, whether they stay in
// memory or pass to the spool, and is cut back (a quote that failed) to
// any length before or after the spooled part.
func TestDraftBodySpools(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 40 {
		d := &draft{}
		var want []byte
		for len(want) < 3*memBody+r.IntN(memBody) {
			p := randomText(r, r.IntN(1<<r.IntN(19)))
			d.Write(p)
			want = append(want, p...)
			if r.IntN(20) == 0 {
				n := r.IntN(len(want) + 1)
				if err := d.truncateBody(int64(n)); err != nil {
					t.Fatal(err)
				}
				want = want[:n]
			}
		}
		if i%3 == 0 {
			nd := &draft{}
			if err := nd.readBody(bytes.NewReader(want[:len(want)/2])); err != nil {
				t.Fatal(err)
			}
			d.replaceBody(nd)
			want = want[:len(want)/2]
		}
		got, err := io.ReadAll(d.bodyReader())
		if err != nil {
			t.Fatal(err)
		}
		if d.bodyLen() != int64(len(want)) || !bytes.Equal(got, want) {
			t.Fatalf("case %d: %d bytes read (bodyLen %d), want %d", i, len(got), d.bodyLen(), len(want))
		}
		if d.body.Len() > memBody {
			t.Errorf("case %d: %d bytes held in memory", i, d.body.Len())
		}
		d.closeBody()
	}
}

// ~r, ~|, ~e, ~w and ~p work on a text larger than what a draft holds
// in memory as on a small one.
func TestTildeOnSpooledText(t *testing.T) {
	h := newHome(t)
	dir := t.TempDir()
	var text strings.Builder
	for i := 0; text.Len() < 3*memBody; i++ {
		fmt.Fprintf(&text, "line %d of the file read\n", i)
	}
	src := filepath.Join(dir, "src")
	os.WriteFile(src, []byte(text.String()), 0o600)
	out := filepath.Join(dir, "out")
	h.env = append(h.env, "EDITOR=sed -i s/^FIRST$/First/")
	script := "first\n~r " + src + "\n~| tr a-z A-Z\n~e\nlast\n~w " + out + "\n~p\n"
	stdout, stderr, code := h.mail(t, script, "-~", "-s", "x", "root")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "First\n" + strings.ToUpper(text.String()) + "last\n"
	if got, _ := os.ReadFile(out); string(got) != want {
		t.Errorf("~w wrote %d bytes, want %d", len(got), len(want))
	}
	if !strings.Contains(stdout, fmt.Sprintf("%q %d/%d\n", src, strings.Count(text.String(), "\n"), text.Len())) ||
		!strings.Contains(stdout, "\n\n"+want+"(continue)\n") {
		t.Errorf("output: %.300q ... %q", stdout, stdout[max(0, len(stdout)-300):])
	}
	if q := h.only(t); q.body != want {
		t.Errorf("sent %d bytes, want %d", len(q.body), len(want))
	}
}

// A part whose own header is 50 MB (short fields, then one of 6 MB) is
// shown in bounded memory: its fields past the first megabyte are not
// read, which a note says, and its text and the parts after it are
// shown.
func TestPartHugeHeaderInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50 MB")
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
	bw.WriteString("From: Big <big@example.org>\nSubject: huge part header\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n" +
		"--b\nContent-Type: text/plain\n\npart one\n--b\nContent-Type: text/plain; charset=utf-8\n")
	ct := len("Content-Type: text/plain; charset=utf-8\n")
	n, kept := 0, ct // kept: the whole fields within maxPartHeader
	for i := range 600000 {
		k, _ := fmt.Fprintf(bw, "X-Filler-%d: %s\n", i, strings.Repeat("f", 70))
		n += k
		if kept+k <= maxPartHeader && kept == ct+n-k {
			kept += k
		}
	}
	long := "X-Long: " + strings.Repeat("w ", 3<<20) + "\n"
	bw.WriteString(long + "\npart two\n--b\nContent-Type: text/plain\n\npart three\n--b--\n")
	bw.Flush()
	f.Close()
	dir := t.TempDir()
	in := filepath.Join(dir, "script")
	os.WriteFile(in, []byte("p\nx\n"), 0o600)
	var out bytes.Buffer
	rss := h.mailRSSTo(t, in, &out, "-N", "-f", "Maildir/")
	t.Logf("p: peak RSS %d MB", rss>>20)
	if rss > maxDraftRSS {
		t.Errorf("p of a message with a part whose header is 50 MB: peak RSS %d MB, want at most %d MB", rss>>20, maxDraftRSS>>20)
	}
	header := ct + n + len(long)
	want := fmt.Sprintf("[-- #1.1 text/plain --]\npart one\n"+
		"[-- #1.2 header larger than %d bytes: the last %d of its %d bytes not read --]\n"+
		"[-- #1.2 text/plain --]\npart two\n[-- #1.3 text/plain --]\npart three\n", maxPartHeader, header-kept, header)
	if s := out.String(); !strings.Contains(s, want) {
		t.Errorf("p shows %q, want %q", s[strings.Index(s, "\n\n")+2:], want)
	}
}
