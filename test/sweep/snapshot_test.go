package sweep

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/test/testenv"
)

// TestPowerLossSnapshots checks the promise on a real kernel and file
// system, beside the fsync model: an agent runs with its HOME on an
// ext4 without a journal (the kind where the fewest writes are
// ordered), and on one with a journal, and takes messages over its SMTP
// socket and from sendmail, delivering each into ~/Maildir as it comes:
// first one after another, then over four sessions side by side (whose
// messages share syncs). Right after each 250 and each sendmail's exit
// 0 of the first part, a random moment later, and at random moments in
// the second, the agent is stopped, the disk image copied and the agent
// let go on: each copy is what a power loss at that instant would leave
// (testenv.PowerLoss). Each copy is repaired as a boot would, mounted,
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
	w := startOnImage(t, journal, "", nil)
	e, agent, img, mnt, sock := w.e, w.agent, w.img, w.mnt, w.sock
	rel, err := filepath.Rel(mnt, e.Home)
	if err != nil {
		t.Fatal(err)
	}
	rcpt := testenv.Login(t) + "@testhost.example"

	text := func(i int) string {
		return fmt.Sprintf("From: <script@example.org>\nTo: <%s>\nSubject: snapshot %d\nMessage-ID: <snap%d@example.org>\n\n%s\n", rcpt, i, i, strings.Repeat(fmt.Sprintf("line %d of the body\n", i), 40+i*7))
	}
	dial := func() *smtp.Client {
		t.Helper()
		conn, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		c := smtp.NewClient(conn)
		t.Cleanup(func() { c.Close() })
		if err := c.Hello("localhost"); err != nil {
			t.Fatal(err)
		}
		return c
	}
	overSMTP := func(c *smtp.Client, i int) error {
		if err := c.Mail("script@example.org", nil); err != nil {
			return err
		}
		if err := c.Rcpt(rcpt, nil); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte(strings.ReplaceAll(text(i), "\n", "\r\n"))); err != nil {
			return err
		}
		return w.Close()
	}

	const one, conns, each = 10, 4, 6 // one after another; then side by side
	const n = one + conns*each
	var acked [n]atomic.Bool
	snaps := 0
	type copyOf struct {
		snap, what string
		acked      []bool
	}
	take := func(what string) copyOf {
		// What was acknowledged before the agent stops. A 250 read
		// after this is not counted, though it may be in the copy.
		a := make([]bool, n)
		for i := range a {
			a[i] = acked[i].Load()
		}
		resume := testenv.StopHome(t, e.Home, agent.Process.Pid)
		snap := testenv.Snapshot(t, img)
		resume()
		snaps++
		return copyOf{snap, fmt.Sprintf("copy %d (%s)", snaps, what), a}
	}
	check := func(c copyOf) { checkSnapshot(t, c.snap, rel, c.acked, text, c.what) }
	snapshot := func(what string) { check(take(what)) }

	// One after another, by turns over SMTP and from sendmail: a copy
	// right after each acknowledgement, and one a moment later.
	c := dial()
	for i := range one {
		if i%2 == 0 {
			if err := overSMTP(c, i); err != nil {
				t.Fatal(err)
			}
		} else {
			e.MustSend(text(i), "-oi", rcpt)
		}
		acked[i].Store(true)
		for _, wait := range []time.Duration{0, time.Duration(rand.IntN(4000)) * time.Microsecond} {
			time.Sleep(wait)
			snapshot(fmt.Sprintf("after message %d, %v later", i, wait))
		}
	}
	c.Quit()

	// Sessions side by side, each pausing up to 20 ms between its
	// messages; copies at random moments, looked at once all is sent.
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for k := range conns {
		c := dial()
		wg.Go(func() {
			defer c.Quit()
			for j := range each {
				i := one + k*each + j
				if err := overSMTP(c, i); err != nil {
					errs <- fmt.Errorf("message %d: %w", i, err)
					return
				}
				acked[i].Store(true)
				time.Sleep(time.Duration(rand.IntN(20000)) * time.Microsecond)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var copies []copyOf
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(time.Duration(rand.IntN(5000)) * time.Microsecond):
		}
		copies = append(copies, take("sessions side by side"))
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, c := range copies {
		check(c)
	}
	t.Logf("%d copies, %d of them while the sessions ran", snaps, len(copies))
	if len(copies) < 3 {
		t.Errorf("%d copies taken while the sessions ran: the sessions were not caught at work", len(copies))
	}
}

// imageWorld is a user's world whose HOME is on a file system of its
// own (testenv.Ext4Image), its agent running there and listening on its
// SMTP socket.
type imageWorld struct {
	e              *testenv.Env
	agent          *exec.Cmd
	img, mnt, sock string
}

// startOnImage makes an imageWorld: extraConfig goes into config.toml
// (testenv.New), and setup, if any, writes the user's other files.
func startOnImage(t *testing.T, journal bool, extraConfig string, setup func(home string)) *imageWorld {
	t.Helper()
	mnt, img := testenv.Ext4Image(t, journal)
	t.Setenv("TMPDIR", mnt)
	e := testenv.New(t, extraConfig)
	if setup != nil {
		setup(e.Home)
	}
	rt, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatal(err)
	}
	e.Vars = append(e.Vars, "XDG_RUNTIME_DIR="+rt)
	// The user's files (config.toml, .forward, a script) are on the
	// disk long before mail comes, not only in the kernel's caches.
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
	return &imageWorld{e: e, agent: agent, img: img, mnt: mnt, sock: sock}
}

// checkSnapshot repairs and mounts a copy of the image, runs one agent
// --once in the HOME there (rel: its path in the file system), and
// checks its Maildir: each message acked there once and whole, none
// twice, nothing left in the outbox.
func checkSnapshot(t *testing.T, snap, rel string, acked []bool, text func(int) string, what string) {
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
	n := len(acked)
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
		case k == 0 && acked[i]:
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
