package review

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// A recipient expanded into several targets, the agent killed while a
// later target (a slow command) runs: at the retry the store's copy,
// already written, is not written again, the command runs again (it
// never finished), and the queue empties.
func TestKillDuringExpansion(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	me := testenv.Login(t)
	marker := e.Path("started")
	script := e.Path("slow.sh")
	os.WriteFile(script, []byte("#!/bin/sh\ncat >> "+e.Path("cmd.out")+"\nif [ ! -e "+marker+" ]; then touch "+marker+"; sleep 30; fi\n"), 0o755)
	os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte("both: \\"+me+", \"|"+script+"\", "+e.Path("box")+"/\n"), 0o600)
	e.MustSend("Subject: both\nMessage-ID: <both@test>\n\nbody\n", "both")
	c := e.Cmd(nil, "homepost", "agent")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			c.Process.Kill()
			t.Fatal("the command never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Process.Kill()
	c.Wait()
	e.Once()
	count := func(dir string) int {
		n := 0
		for _, sub := range []string{"new", "cur"} {
			n += len(testenv.Files(e.Path(dir, sub)))
		}
		return n
	}
	if n := count("Maildir"); n != 1 {
		t.Errorf("store holds %d copies, want 1", n)
	}
	if n := count("box"); n != 1 {
		t.Errorf("box holds %d copies, want 1", n)
	}
	out, _ := os.ReadFile(e.Path("cmd.out"))
	if n := strings.Count(string(out), "Message-ID: <both@test>"); n < 1 {
		t.Errorf("the command got %d copies", n)
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
}

// kill -9 of the agent at random instants while it delivers messages
// that expand into two Maildir targets (the store and another Maildir)
// and a remote copy: every message ends up once in each Maildir, none
// twice, and the queue empties.
func TestKill9ExpansionsNoDuplicates(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("SKIP: -short")
	}
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	me := testenv.Login(t)
	os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte("both: \\"+me+", "+e.Path("box")+"/, far@remote.example\n"), 0o600)
	const n = 120
	for i := range n {
		e.MustSend(fmt.Sprintf("Subject: msg %d\nMessage-ID: <m%d@test>\n\nbody %d\n", i, i, i), "-i", "both")
	}
	for range 25 {
		c := e.Cmd(nil, "homepost", "agent")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(40)+3) * time.Millisecond)
		c.Process.Kill()
		c.Wait()
	}
	e.Once()
	re := regexp.MustCompile(`(?m)^Message-ID: (<m\d+@test>)$`)
	for _, dir := range []string{"Maildir", "box"} {
		seen := map[string]int{}
		for _, sub := range []string{"new", "cur"} {
			for _, f := range testenv.Files(e.Path(dir, sub)) {
				b, err := os.ReadFile(e.Path(dir, sub, f))
				if err != nil {
					t.Fatal(err)
				}
				m := re.FindSubmatch(b)
				if m == nil {
					t.Fatalf("%s: a copy without its Message-ID:\n%s", dir, b)
				}
				seen[string(m[1])]++
			}
		}
		for i := range n {
			if id := fmt.Sprintf("<m%d@test>", i); seen[id] != 1 {
				t.Errorf("%s: %s stored %d times", dir, id, seen[id])
			}
		}
	}
	if c := h.Count("far@remote.example"); c < n {
		t.Errorf("the smarthost got %d copies, want at least %d", c, n)
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%.1000s", q)
	}
}

// kill -9 of the agent at random instants while it bounces messages
// (a command exiting 67): every message gets exactly one DSN in the
// store.
func TestKill9BouncesOneDSN(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("SKIP: -short")
	}
	e := testenv.New(t, "")
	os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte("gone: \"|echo 5.1.1 no such list; exit 67\"\n"), 0o600)
	const n = 60
	for i := range n {
		e.MustSend(fmt.Sprintf("Subject: msg %d\nMessage-ID: <m%d@test>\n\nbody %d\n", i, i, i), "-i", "gone")
	}
	for range 25 {
		c := e.Cmd(nil, "homepost", "agent")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(400)+5) * time.Millisecond)
		c.Process.Kill()
		c.Wait()
	}
	e.Once()
	re := regexp.MustCompile(`(?m)^Message-ID: (<m\d+@test>)$`)
	seen := map[string]int{}
	for _, sub := range []string{"new", "cur"} {
		for _, f := range testenv.Files(e.Path("Maildir", sub)) {
			b, _ := os.ReadFile(e.Path("Maildir", sub, f))
			if m := re.FindSubmatch(b); m != nil {
				seen[string(m[1])]++
			}
		}
	}
	for i := range n {
		if id := fmt.Sprintf("<m%d@test>", i); seen[id] != 1 {
			t.Errorf("%d DSNs for %s", seen[id], id)
		}
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%.1000s", q)
	}
}

// A message whose copy was stored by an agent killed before it recorded
// it, then held and released (homepost queue) before any agent took it
// up again: the copy the user has meanwhile read (moved to cur/) is
// found, not stored a second time. A released message comes back
// through new/ and is delivered as if never tried.
func TestReleaseAfterCrashNoDuplicate(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	e.MustSend("Subject: once\nMessage-ID: <once@test>\n\nbody\n", "root")
	names := testenv.Files(e.Outbox("new"))
	if len(names) != 1 {
		t.Fatalf("outbox: %v", names)
	}
	name := names[0]
	// What a killed agent leaves: the message claimed, its copy stored
	// (and read by the user since), nothing recorded.
	if err := os.Rename(filepath.Join(e.Outbox("new"), name), filepath.Join(e.Outbox("cur"), name+":2,")); err != nil {
		t.Fatal(err)
	}
	sec, rest, _ := strings.Cut(name, ".")
	id, host, _ := strings.Cut(rest, ".")
	copyName := sec + "." + id + "R0." + host
	for _, sub := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(e.Path("Maildir", sub), 0o700)
	}
	os.WriteFile(e.Path("Maildir", "cur", copyName+":2,S"), []byte("Subject: once\nMessage-ID: <once@test>\n\nbody\n"), 0o600)

	if _, stderr, code := e.Run(nil, "homepost", "queue", "hold", id); code != 0 {
		t.Fatalf("hold: %d %s", code, stderr)
	}
	if _, stderr, code := e.Run(nil, "homepost", "queue", "release", id); code != 0 {
		t.Fatalf("release: %d %s", code, stderr)
	}
	e.Once()
	n := len(testenv.Files(e.Path("Maildir", "new"))) + len(testenv.Files(e.Path("Maildir", "cur")))
	if n != 1 {
		t.Errorf("the store holds %d copies, want 1: %v %v", n, testenv.Files(e.Path("Maildir", "new")), testenv.Files(e.Path("Maildir", "cur")))
	}
}

// Running out of file descriptors (EMFILE) while opening a queue file is
// a passing trouble, not a corrupt file: the message must stay in the
// queue. The agent moves every queue file it cannot open, for whatever
// reason, to the state directory's corrupt/, where nothing delivers,
// bounces or lists it.
func TestTooManyOpenFilesKeepsMessages(t *testing.T) {
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("SKIP: prlimit not installed")
	}
	e := testenv.New(t, "")
	const n = 3
	for i := range n {
		e.MustSend(fmt.Sprintf("Subject: m%d\nMessage-ID: <m%d@test>\n\nbody\n", i, i), "root")
	}
	corrupt := e.Path(".local", "state", "homepost", "corrupt")
	for limit := 7; limit <= 14; limit++ {
		c := exec.Command(prlimit, fmt.Sprintf("--nofile=%d:%d", limit, limit), filepath.Join(e.Bin, "homepost"), "agent", "--once")
		c.Env, c.Dir = e.Vars, "/"
		c.Run()
		if names := testenv.Files(corrupt); len(names) > 0 {
			t.Fatalf("with %d file descriptors the agent set %d good messages aside: %v", limit, len(names), names)
		}
	}
	// What failed for want of descriptors was deferred: flush delivers
	// it now.
	if _, stderr, code := e.Run(nil, "homepost", "flush"); code != 0 {
		t.Fatalf("flush: %d %s", code, stderr)
	}
	if got := len(testenv.Files(e.Path("Maildir", "new"))); got != n {
		t.Errorf("store has %d messages, want %d", got, n)
	}
}
