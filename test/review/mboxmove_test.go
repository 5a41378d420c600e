package review

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// mail moves one message of the mbox that MAIL names to ~/mbox at quit
// ("mbox 1", as "unset hold" does with the messages read): it is
// appended to ~/mbox and removed from the mailbox, at once. The other
// ten are new and get "Status: O" at quit, so the mailbox's new
// contents are longer than the old ones although a message leaves: the
// rewrite reserves the blocks past the end (fallocate, which changes
// the file's times) before it copies the message to ~/mbox under the
// mailbox's locks, and the copy then takes the mailbox for changed by
// another program and waits for its locks, held by the same mail: 30
// seconds, then "mailbox is locked by another program", nothing moved.
// The same holds where the rewrite shrinks the mailbox and where its
// record goes to the state directory (a spool).
func TestMailMovesMessageOutOfGrowingMbox(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		status string // the Status field of the messages as delivered
		spool  bool   // the mailbox lies where no file can be made
	}{
		{name: "growing"},
		// Already old: the rewrite only removes, the file shrinks.
		{name: "shrinking", status: "Status: O\n"},
		// The rewrite's record goes to the state directory.
		{name: "spool", spool: true},
		{name: "spool shrinking", status: "Status: O\n", spool: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			mailMovesOne(t, c.status, c.spool)
		})
	}
}

func mailMovesOne(t *testing.T, status string, spool bool) {
	e := testenv.New(t, "")
	if err := os.MkdirAll(e.Path("spool"), 0o700); err != nil {
		t.Fatal(err)
	}
	box := e.Path("spool", "inbox")
	const n = 11
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "From sender@example.org Mon Nov 24 16:00:%02d 2025\nSubject: m%d\nMessage-ID: <m%d@move.test>\n%s\nbody\n\n", i, i, i, status)
	}
	if err := os.WriteFile(box, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if spool {
		spoolDir(t, e.Path("spool"))
	}
	c := e.Cmd([]byte("mbox 1\nq\n"), "mail")
	c.Env = append(append([]string{}, c.Env...), "MAIL="+box)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	start := time.Now()
	err := c.Run()
	took := time.Since(start)
	if err != nil || !strings.Contains(out.String(), "Saved 1 message in") || took > 10*time.Second {
		t.Errorf("mail (MAIL=%s) mbox 1, q: %v after %v, want exit 0 at once and \"Saved 1 message in\"\nstdout: %s\nstderr: %s",
			box, err, took.Round(time.Millisecond), out.String(), errb.String())
	}
	mbox, _ := os.ReadFile(e.Path("mbox"))
	left, _ := os.ReadFile(box)
	for i := range n {
		id := fmt.Sprintf("<m%d@move.test>", i)
		inMbox, inBox := bytes.Count(mbox, []byte(id)), bytes.Count(left, []byte(id))
		want := [2]int{0, 1}
		if i == 0 {
			want = [2]int{1, 0}
		}
		if [2]int{inMbox, inBox} != want {
			t.Errorf("%s: %d in ~/mbox and %d in the mailbox, want %d and %d", id, inMbox, inBox, want[0], want[1])
		}
	}
}

// spoolDir makes dir a directory in which no file can be created, as a
// mail spool is to its users: by its mode, or, for root, by the
// immutable attribute; it skips the test where neither holds.
func spoolDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	probe := filepath.Join(dir, ".probe")
	f, err := os.Create(probe)
	if err != nil {
		return
	}
	f.Close()
	os.Remove(probe)
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot make %s a directory that takes no new file: %v %s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
}
