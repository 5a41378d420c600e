package clients

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// sendmail -bs takes a message line of any length, as the agent's
// listener and sendmail itself do: a line of more than 64 MiB is queued
// and stored byte for byte, and streamed (the process never holds it
// whole); only a command line is limited, to 1 MiB, which ends the
// session with 500 5.5.2.
func TestBSMTPLongMessageLine(t *testing.T) {
	e := newEnv(t, "")
	const longLen = 65<<20 + 123
	head := "HELO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root>\r\nDATA\r\nSubject: long line\r\nFrom: a@example.org\r\nDate: Thu, 3 Dec 2026 12:00:00 +0000\r\nMessage-ID: <long@example.org>\r\n\r\nbefore\r\n"
	tail := "\r\nafter\r\n.\r\nQUIT\r\n"
	c := e.command(bin("sendmail"), "-bs")
	// The line is made as it is sent (and again to compare), so that
	// the memory of this process, which the child's peak counts until
	// it execs, stays small.
	c.Stdin = io.MultiReader(strings.NewReader(head), newLine(longLen), strings.NewReader(tail))
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// Its own peak, read while it runs (testenv.VmHWM).
	stopWatch := testenv.WatchPeak(c.Process.Pid)
	err := c.Wait()
	peak := stopWatch()
	if err != nil {
		t.Fatalf("sendmail -bs: %v\n%s\n%s", err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "250 2.0.0 Ok: queued as ") {
		t.Fatalf("not queued:\n%s\n%s", out.String(), errb.String())
	}
	if peak == 0 {
		t.Fatal("could not read sendmail -bs's VmHWM from /proc")
	}
	if peak > 48<<10 {
		t.Errorf("sendmail -bs used %d KiB for a line of %d MiB: it was held whole", peak, longLen>>20)
	}
	e.deliver()
	files := testenv.Files(e.path("Maildir", "new"))
	if len(files) != 1 {
		t.Fatalf("%d messages stored, want 1", len(files))
	}
	// Compared as it is read, not held whole: this process's memory
	// is the next test's child's too.
	stored, err := os.Open(filepath.Join(e.path("Maildir", "new"), files[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer stored.Close()
	st, err := stored.Stat()
	if err != nil {
		t.Fatal(err)
	}
	want := io.MultiReader(strings.NewReader("Subject: long line\nFrom: a@example.org\nDate: Thu, 3 Dec 2026 12:00:00 +0000\nMessage-ID: <long@example.org>\n\nbefore\n"),
		newLine(longLen), strings.NewReader("\nafter\n"))
	wantLen := int64(len("Subject: long line\nFrom: a@example.org\nDate: Thu, 3 Dec 2026 12:00:00 +0000\nMessage-ID: <long@example.org>\n\nbefore\n")) + longLen + int64(len("\nafter\n"))
	if st.Size() < wantLen {
		t.Fatalf("stored message of %d bytes, shorter than the %d sent", st.Size(), wantLen)
	}
	if same, err := sameBytes(io.NewSectionReader(stored, st.Size()-wantLen, wantLen), want); err != nil || !same {
		t.Errorf("the stored message (%d bytes) does not end with the message as sent (%d bytes): %v", st.Size(), wantLen, err)
	}

	// A command line over 1 MiB ends the session; nothing is queued.
	c = e.command(bin("sendmail"), "-bs")
	c.Stdin = strings.NewReader("HELO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root>\r\nNOOP " + strings.Repeat("n", 1<<20) + "\r\nDATA\r\nSubject: no\r\n\r\nno\r\n.\r\nQUIT\r\n")
	out.Reset()
	c.Stdout = &out
	c.Run()
	var last string
	for sc := bufio.NewScanner(&out); sc.Scan(); {
		last = sc.Text()
	}
	if last != "500 5.5.2 command line longer than 1 MiB, closing connection" {
		t.Errorf("after an over-long command line: %q, want a 500 that ends the session", last)
	}
	if f := testenv.Files(e.path(".local", "state", "homepost", "outbox", "new")); len(f) != 0 {
		t.Errorf("queued after an over-long command line: %v", f)
	}
}

// line is a reader of n bytes of one line, without its end, the same
// every time: base64 letters from a seeded generator.
type line struct {
	r *rand.Rand
	n int64
}

func newLine(n int64) *line { return &line{r: rand.New(rand.NewPCG(1, 2)), n: n} }

func (l *line) Read(p []byte) (int, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	if l.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), l.n)]
	for i := range p {
		p[i] = alphabet[l.r.IntN(len(alphabet))]
	}
	l.n -= int64(len(p))
	return len(p), nil
}

// sameBytes reports whether a and b read the same bytes, comparing them
// a block at a time.
func sameBytes(a, b io.Reader) (bool, error) {
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(a, ba)
		nb, eb := io.ReadFull(b, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		aDone := ea == io.EOF || ea == io.ErrUnexpectedEOF
		bDone := eb == io.EOF || eb == io.ErrUnexpectedEOF
		if ea != nil && !aDone {
			return false, ea
		}
		if eb != nil && !bDone {
			return false, eb
		}
		if aDone || bDone {
			return aDone && bDone, nil
		}
	}
}
