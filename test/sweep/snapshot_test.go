package sweep

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/test/testenv"
)

// TestPowerLossSnapshots checks the promise on a real kernel and file
// system, beside the fsync model: an agent runs with its HOME on an
// ext4 without a journal (the kind where the fewest writes are ordered),
// and on one with a journal, and takes messages over its SMTP socket and from sendmail, one after
// another, delivering each into ~/Maildir as it comes. Right after each
// 250 and each sendmail's exit 0 (and a random moment later, while the
// agent delivers), the agent is stopped, the disk image copied and the
// agent let go on: each copy is what a power loss at that instant would
// leave (testenv.PowerLoss). Each copy is repaired as a boot would, mounted,
// and given one "homepost agent --once" (the agent's start after the
// reboot); then every message acknowledged before the copy must be in
// the Maildir exactly once, whole, and no message twice, and the outbox
// must hold nothing left to deliver.
func TestPowerLossSnapshots(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting a test file system needs root")
	}
	for _, journal := range []bool{false, true} {
		t.Run(fmt.Sprintf("journal=%v", journal), func(t *testing.T) { powerLossSnapshots(t, journal) })
	}
}

func powerLossSnapshots(t *testing.T, journal bool) {
	mnt, img := testenv.Ext4Image(t, journal)
	t.Setenv("TMPDIR", mnt)
	e := testenv.New(t, "")
	rt, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatal(err)
	}
	e.Vars = append(e.Vars, "XDG_RUNTIME_DIR="+rt)
	// The user's files (config.toml) are on the disk long before mail
	// comes, not only in the kernel's caches.
	syscall.Sync()
	agent := e.StartAgent()
	sock := filepath.Join(rt, "homepost", "smtp")
	e.WaitFor(func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "the SMTP socket")
	rel, err := filepath.Rel(mnt, e.Home)
	if err != nil {
		t.Fatal(err)
	}
	rcpt := testenv.Login(t) + "@testhost.example"

	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	text := func(i int) string {
		return fmt.Sprintf("From: <script@example.org>\nTo: <%s>\nSubject: snapshot %d\nMessage-ID: <snap%d@example.org>\n\n%s\n", rcpt, i, i, strings.Repeat(fmt.Sprintf("line %d of the body\n", i), 40+i*7))
	}
	overSMTP := func(i int) {
		t.Helper()
		if err := c.Mail("script@example.org", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(strings.ReplaceAll(text(i), "\n", "\r\n"))); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}

	const n = 16
	acked := 0
	snaps := 0
	for i := range n {
		if i%2 == 0 {
			overSMTP(i)
		} else {
			e.MustSend(text(i), "-oi", rcpt)
		}
		acked = i + 1
		for _, wait := range []time.Duration{0, time.Duration(rand.IntN(4000)) * time.Microsecond} {
			time.Sleep(wait)
			agent.Process.Signal(syscall.SIGSTOP)
			snap := testenv.Snapshot(t, img)
			agent.Process.Signal(syscall.SIGCONT)
			snaps++
			checkSnapshot(t, snap, rel, acked, n, text, fmt.Sprintf("copy %d (after message %d, %v later)", snaps, i, wait))
		}
	}
	c.Quit()
}

// checkSnapshot repairs and mounts a copy of the image, runs one agent
// --once in the HOME there (rel: its path in the file system), and
// checks its Maildir: messages 0 to acked-1 there once each and whole,
// none of the n twice, nothing left in the outbox.
func checkSnapshot(t *testing.T, snap, rel string, acked, n int, text func(int) string, what string) {
	t.Helper()
	testenv.Repair(t, snap)
	dir, unmount := testenv.MountImage(t, snap)
	defer func() {
		unmount()
		os.Remove(snap)
	}()
	home := filepath.Join(dir, rel)
	e := testenv.At(t, home)
	_, stderr, code := e.Run(nil, "homepost", "agent", "--once")
	if code != 0 {
		t.Fatalf("%s: agent --once after the power loss: exit %d: %s", what, code, stderr)
	}
	defer func() {
		if t.Failed() {
			t.Logf("%s: agent --once:\n%s", what, stderr)
		}
	}()
	count := make([]int, n)
	for _, sub := range []string{"new", "cur"} {
		for _, name := range testenv.Files(e.Path("Maildir", sub)) {
			b, err := os.ReadFile(e.Path("Maildir", sub, name))
			if err != nil {
				t.Fatal(err)
			}
			var i int
			if _, err := fmt.Sscanf(between(string(b), "Subject: snapshot ", "\n"), "%d", &i); err != nil || i < 0 || i >= n {
				t.Errorf("%s: a message in the Maildir that was never sent:\n%.300s", what, b)
				continue
			}
			count[i]++
			// The body whole (the agent adds header fields).
			_, wantBody, _ := strings.Cut(text(i), "\n\n")
			if _, body, _ := strings.Cut(string(b), "\n\n"); body != wantBody {
				t.Errorf("%s: message %d is not whole in the Maildir:\n%s", what, i, b)
			}
		}
	}
	for i, k := range count {
		switch {
		case k > 1:
			t.Errorf("%s: message %d stored %d times", what, i, k)
		case k == 0 && i < acked:
			t.Errorf("%s: message %d, acknowledged, is lost", what, i)
		}
	}
	for _, sub := range []string{"new", "cur"} {
		if left := testenv.Files(e.Outbox(sub)); len(left) > 0 {
			t.Errorf("%s: the outbox's %s/ still holds %v after agent --once", what, sub, left)
			for _, name := range left {
				b, _ := os.ReadFile(e.Outbox(sub) + "/" + name)
				t.Logf("%s: %q", name, b)
			}
		}
	}
}

// between returns the text of s after the first from, up to the next to.
func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}
