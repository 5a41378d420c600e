// Package hostile tests what homepost does with files that are not what
// they should be: things in the outbox that are not queue files, and
// mboxes in a directory that other users may write to.
package hostile

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/outbox"
	"homepost/test/testenv"
)

// once runs "homepost agent --once" with a deadline: a hang is a
// failure, not a stuck test.
func once(t *testing.T, e *testenv.Env) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, filepath.Join(e.Bin, "homepost"), "agent", "--once")
	c.Env, c.Dir = e.Vars, "/"
	out, err := c.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("agent --once still running after 20 s:\n%s", out)
	}
	if err != nil {
		t.Fatalf("agent --once: %v\n%s", err, out)
	}
	return string(out)
}

// A FIFO, a symbolic link and a directory in outbox/new are not queue
// files: each is set aside in corrupt/ with one log line, the agent
// neither hangs on the FIFO nor follows the link (whose target keeps its
// bytes), nor retries them; the real message beside them is delivered.
func TestOutboxOddFiles(t *testing.T) {
	e := testenv.New(t, "")
	me := testenv.Login(t)
	e.MustSend("Subject: real\n\nbody\n", me)
	newDir := e.Outbox("new")
	if err := syscall.Mkfifo(filepath.Join(newDir, "1.fifo.host"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := e.Path("precious")
	os.WriteFile(target, []byte("precious bytes\n"), 0o600)
	if err := os.Symlink(target, filepath.Join(newDir, "1.link.host")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(newDir, "1.dir.host"), 0o700); err != nil {
		t.Fatal(err)
	}
	log := once(t, e)
	if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 1 {
		t.Errorf("the real message: %d copies\n%s", n, log)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious bytes\n" {
		t.Errorf("the link's target now holds %q", b)
	}
	corrupt := e.Path(".local", "state", "homepost", "corrupt")
	got := strings.Join(testenv.Files(corrupt), " ")
	for _, n := range []string{"fifo", "link", "dir"} {
		if !strings.Contains(got, "1."+n+".host") {
			t.Errorf("%s not set aside: corrupt/ holds %q", n, got)
		}
		c := 0
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, "1."+n+".host") {
				c++
			}
		}
		if c != 1 {
			t.Errorf("%s: %d log lines, want 1:\n%s", n, c, log)
		}
	}
	if st, err := os.Lstat(filepath.Join(corrupt, "1.link.host:2,")); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link in corrupt/: %v %v", st, err)
	}
	for _, sub := range []string{"new", "cur"} {
		if l := testenv.Files(e.Outbox(sub)); len(l) != 0 {
			t.Errorf("outbox/%s still holds %v", sub, l)
		}
	}
	if log := once(t, e); log != "" {
		t.Errorf("a second run found something to do:\n%s", log)
	}
	// mailq lists the queue without hanging on what was there.
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
}

// mailq does not hang on a FIFO in the queue either.
func TestMailqFIFO(t *testing.T) {
	e := testenv.New(t, "")
	os.MkdirAll(e.Outbox("new"), 0o700)
	if err := syscall.Mkfifo(filepath.Join(e.Outbox("new"), "1.fifo.host"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, filepath.Join(e.Bin, "mailq"))
	c.Env, c.Dir = e.Vars, "/"
	out, _ := c.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mailq hangs on a FIFO in the queue:\n%s", out)
	}
}

// An mbox store in a directory anyone may write to (a 1777 spool): a
// file made there by another user, or a symbolic link planted there,
// does not receive the user's mail: the message is deferred with the
// reason, and delivered once the mbox is the user's own.
func TestMboxNotTheUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: making a file owned by another user needs root")
	}
	for _, kind := range []string{"other user's file", "symbolic link"} {
		t.Run(kind, func(t *testing.T) {
			e := testenv.New(t, "store = \"mbox:~/spool/me\"\n")
			spool := e.Path("spool")
			os.Mkdir(spool, 0o777)
			os.Chmod(spool, 0o1777)
			box := filepath.Join(spool, "me")
			victim := e.Path("victim")
			os.WriteFile(victim, []byte("keep\n"), 0o600)
			if kind == "symbolic link" {
				if err := os.Symlink(victim, box); err != nil {
					t.Fatal(err)
				}
			} else {
				os.WriteFile(box, nil, 0o666)
				if err := os.Chown(box, 65534, 65534); err != nil {
					t.Fatal(err)
				}
			}
			e.MustSend("Subject: secret\n\nfor me only\n", testenv.Login(t))
			log := once(t, e)
			if b, _ := os.ReadFile(box); len(b) != 0 && kind != "symbolic link" {
				t.Errorf("delivered into %s: %q", kind, b)
			}
			if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
				t.Errorf("the link's target holds %q", b)
			}
			if !strings.Contains(log, "status=deferred") || !strings.Contains(log, box) {
				t.Errorf("no deferral that names the mbox:\n%s", log)
			}
			q, _, _ := e.Run(nil, "mailq")
			if !strings.Contains(q, "not delivered into it") && !strings.Contains(q, "not delivered through it") {
				t.Errorf("mailq does not say why:\n%s", q)
			}
			// The user's own mbox: delivered at the next flush.
			os.Remove(box)
			if _, stderr, code := e.Run(nil, "homepost", "flush"); code != 0 {
				t.Fatalf("flush: %d %s", code, stderr)
			}
			if b, _ := os.ReadFile(box); !strings.Contains(string(b), "for me only") {
				t.Errorf("not delivered once the mbox is the user's: %q", b)
			}
		})
	}
}

// fsyncSealer makes a sealed queue file durable with an fsync each, as
// the listener's one syncfs would.
type fsyncSealer struct{}

func (fsyncSealer) SyncFile(f *os.File) error { return f.Sync() }
func (fsyncSealer) SyncDir(string) error      { return nil }
func (fsyncSealer) SyncSealed(f *os.File, dir string) error {
	if err := f.Sync(); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// A sealed queue file (the SMTP listener's) that a power loss left in
// outbox/new without all its blocks was never acknowledged: the agent
// sets it aside in corrupt/ with one log line and stores nothing of it;
// a whole sealed file beside it is delivered.
func TestTornSealedQueueFile(t *testing.T) {
	e := testenv.New(t, "")
	me := testenv.Login(t)
	box := outbox.Dir(e.Outbox(""))
	if err := box.Init(); err != nil {
		t.Fatal(err)
	}
	queue := func(subject string) string {
		env := &outbox.Envelope{Sender: "s@example.org", Rcpts: []outbox.Recipient{{Addr: me, Parent: -1}}}
		dr, err := box.CreateSealed(env, "host.example")
		if err != nil {
			t.Fatal(err)
		}
		dr.WriteString("Subject: " + subject + "\n\n" + strings.Repeat("0123456789abcdef\n", 600))
		if err := dr.CommitWith(fsyncSealer{}); err != nil {
			t.Fatal(err)
		}
		return dr.ID()
	}
	whole := queue("whole")
	torn := queue("torn")
	var tornPath string
	for _, n := range testenv.Files(e.Outbox("new")) {
		if outbox.ID(n) == torn {
			tornPath = filepath.Join(e.Outbox("new"), n)
		}
	}
	f, err := os.OpenFile(tornPath, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(make([]byte, 4096), 4096) // a block never written
	f.Close()

	log := once(t, e)
	copies := testenv.Files(e.Path("Maildir", "new"))
	if len(copies) != 1 {
		t.Fatalf("%d copies, want the whole message's only\n%s", len(copies), log)
	}
	if b, _ := os.ReadFile(filepath.Join(e.Path("Maildir", "new"), copies[0])); !strings.Contains(string(b), "Subject: whole") {
		t.Errorf("the copy is not the whole message:\n%.200s", b)
	}
	corrupt := testenv.Files(e.Path(".local", "state", "homepost", "corrupt"))
	if len(corrupt) != 1 || outbox.ID(corrupt[0]) != torn {
		t.Errorf("corrupt/ holds %v, want the torn file %s", corrupt, torn)
	}
	var about []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, torn) {
			about = append(about, l)
		}
	}
	if len(about) != 1 || !strings.Contains(about[0], "seal") {
		t.Errorf("%d log lines about %s, want 1 naming the seal:\n%s", len(about), torn, log)
	}
	if !strings.Contains(log, "id="+whole) || strings.Count(log, "set aside") != 1 {
		t.Errorf("the whole message %s: not delivered, or set aside too:\n%s", whole, log)
	}
	for _, sub := range []string{"new", "cur"} {
		if l := testenv.Files(e.Outbox(sub)); len(l) != 0 {
			t.Errorf("outbox/%s still holds %v", sub, l)
		}
	}
}
