package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// mkMaildir makes dir a Maildir: cur/, new/ and tmp/.
func mkMaildir(t *testing.T, dir string) {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
}

// forwardLines returns the lines of homepost check's output about
// ~/.forward.
func forwardLines(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "forward:") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// A ~/.forward line that names an existing Maildir without the trailing
// '/' (mail(1) reads the same directory as a Maildir) is delivered to as
// that Maildir, once, and resolve and check say so; it was taken for an
// mbox, and every message waited "is a directory" for 5 days.
func TestForwardMaildirWithoutSlash(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	me := testenv.Login(t)
	md9 := e.Path("md9")
	mkMaildir(t, md9)
	if err := os.WriteFile(e.Path(".forward"), []byte(md9+"\n~/md10/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code := e.Run(nil, "homepost", "resolve", me)
	if code != 0 || !strings.Contains(out, "Maildir "+md9+"/\n") || strings.Contains(out, "mbox") {
		t.Errorf("resolve: exit %d:\n%s", code, out)
	}
	out, _, _ = e.Run(nil, "homepost", "check")
	if f := forwardLines(out); !strings.HasPrefix(f, "ok") || strings.Contains(f, "\n") {
		t.Errorf("check on forward:\n%s", f)
	}

	e.MustSend("Subject: w7\n\nbody\n", me)
	e.Once()
	e.Once()
	for _, dir := range []string{md9, e.Path("md10")} {
		names := testenv.Files(filepath.Join(dir, "new"))
		if len(names) != 1 {
			t.Fatalf("%s/new holds %v, want one copy", dir, names)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "new", names[0])); !strings.Contains(string(b), "Subject: w7") {
			t.Errorf("%s: %s", names[0], b)
		}
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
	if n := testenv.Files(e.Path("Maildir", "new")); len(n) != 0 {
		t.Errorf("store: %v, want nothing", n)
	}
}

// A ~/.forward or aliases line naming a directory that is no Maildir
// waits in the queue with a reason that says what to write, and resolve,
// check and newaliases name the line; once the directory is a Maildir,
// or the line ends with '/', the waiting mail is delivered, once, and
// the other targets of the message are not delivered again.
func TestForwardDirectoryNotMaildir(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	me := testenv.Login(t)
	plain, solo, pair := e.Path("plain"), e.Path("solo"), e.Path("pair")
	for _, d := range []string{plain, solo, pair} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(e.Path(".forward"), []byte(plain+"\n~/md10/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	aliases := e.Path(".config", "homepost", "aliases")
	if err := os.WriteFile(aliases, []byte("solo: ~/solo\npair: ~/pair, ~/md11/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	warning := plain + " is a directory but not a Maildir: end the line with '/' to make it one"
	out, _, _ := e.Run(nil, "homepost", "resolve", me)
	if !strings.Contains(out, e.Path(".forward")+":1: "+warning) ||
		!strings.Contains(out, "mbox "+plain+" (a directory but not a Maildir: it would wait in the queue)") {
		t.Errorf("resolve lacks the warning:\n%s", out)
	}
	out, _, _ = e.Run(nil, "homepost", "check")
	if f := forwardLines(out); !strings.HasPrefix(f, "warn") || !strings.Contains(f, e.Path(".forward")+":1: "+warning) {
		t.Errorf("check on forward:\n%s", out)
	}
	_, stderr, code := e.Run(nil, "newaliases")
	if code != 0 || !strings.Contains(stderr, aliases+":1: "+solo+" is a directory but not a Maildir") {
		t.Errorf("newaliases: exit %d:\n%s", code, stderr)
	}

	e.MustSend("Subject: plain\n\nbody\n", me)
	e.MustSend("Subject: solo\n\nbody\n", "solo")
	e.MustSend("Subject: pair\n\nbody\n", "pair")
	e.Once()
	q, _, _ := e.Run(nil, "mailq")
	for _, d := range []string{plain, solo, pair} {
		if !strings.Contains(unwrapped(q), d+" is a directory but not a Maildir (no cur/, new/, tmp/): end the line that names it with '/' to make it one (the store: store = \"PATH/\" in config.toml)") {
			t.Errorf("mailq does not say what to do for %s:\n%s", d, q)
		}
	}
	for _, d := range []string{"md10", "md11"} {
		if n := testenv.Files(e.Path(d, "new")); len(n) != 1 {
			t.Errorf("%s/new: %v", d, n)
		}
	}
	if n := testenv.Files(e.Path("Maildir", "new")); len(n) != 0 {
		t.Errorf("store: %v, want nothing (no bounce, no kept copy)", n)
	}

	// Made a Maildir: the copy queued for it is delivered there.
	mkMaildir(t, plain)
	// The lines end with '/': the mail that waited goes to those
	// Maildirs, that of an alias with other targets too (its copies
	// were journaled as they were).
	if err := os.WriteFile(aliases, []byte("solo: ~/solo/\npair: ~/pair/, ~/md11/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := e.Run(nil, "homepost", "flush"); code != 0 {
		t.Fatalf("flush: %d %s", code, stderr)
	}
	e.Once()
	for _, c := range []struct{ dir, subject string }{{plain, "plain"}, {solo, "solo"}, {pair, "pair"}, {e.Path("md10"), "plain"}, {e.Path("md11"), "pair"}} {
		names := testenv.Files(filepath.Join(c.dir, "new"))
		if len(names) != 1 {
			t.Errorf("%s/new holds %v, want one copy", c.dir, names)
			continue
		}
		if b, _ := os.ReadFile(filepath.Join(c.dir, "new", names[0])); !strings.Contains(string(b), "Subject: "+c.subject) {
			t.Errorf("%s: %s", names[0], b)
		}
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
	if n := testenv.Files(e.Path("Maildir", "new")); len(n) != 0 {
		t.Errorf("store: %v, want nothing", n)
	}
}

// With the agent running, mending the ~/.forward line of a directory
// that is no Maildir (ending it with '/') delivers the mail that waited
// at once: the agent retries local mail when the file changes, and the
// copy recorded for the line as it was goes to the Maildir it now names.
func TestForwardDirectoryMendedWhileAgentRuns(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	me := testenv.Login(t)
	plain := e.Path("plain")
	if err := os.Mkdir(plain, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.Path(".forward"), []byte(plain+"\n~/md10/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.StartAgent()
	e.MustSend("Subject: mended\n\nbody\n", me)
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(unwrapped(q), "is a directory but not a Maildir")
	}, "the copy for "+plain+" to wait")
	if err := os.WriteFile(e.Path(".forward"), []byte(plain+"/\n~/md10/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool { return len(testenv.Files(filepath.Join(plain, "new"))) > 0 }, "the copy in "+plain+"/new")
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return q == "Mail queue is empty\n"
	}, "an empty queue")
	for _, d := range []string{plain, e.Path("md10")} {
		if n := testenv.Files(filepath.Join(d, "new")); len(n) != 1 {
			t.Errorf("%s/new: %v, want one copy", d, n)
		}
	}
}

// A store written as an mbox (store = "mbox:~/plain") that is a plain
// directory: the mail waits, and mailq's reason says what to write in
// config.toml, not only in a .forward or aliases line; once the store
// is written as a Maildir, the mail that waited is delivered there, once.
func TestStoreDirectoryNotMaildir(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "store = \"mbox:~/plain\"\n")
	me := testenv.Login(t)
	if err := os.Mkdir(e.Path("plain"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.MustSend("Subject: into plain\n\nbody\n", me)
	e.Once()
	q, _, _ := e.Run(nil, "mailq")
	if !strings.Contains(unwrapped(q), e.Path("plain")+" is a directory but not a Maildir") ||
		!strings.Contains(unwrapped(q), `store = "PATH/" in config.toml`) {
		t.Errorf("mailq does not say what to write in config.toml:\n%s", q)
	}
	fixStore(t, e, `store = "mbox:~/plain"`, `store = "~/plain/"`)
	if n := testenv.Files(e.Path("plain", "new")); len(n) != 1 {
		t.Errorf("plain/new holds %v, want the one message that waited", n)
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
}

// A store written as a Maildir (store = "~/mbox") that is an existing
// mbox file: the mail waits, and mailq's reason says to write mbox:;
// once the store says so, the mail that waited is appended, once. The
// reason was "maildir: ...: not a directory".
func TestStoreFileNotMaildir(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "store = \"~/mbox\"\n")
	me := testenv.Login(t)
	mbox := e.Path("mbox")
	if err := os.WriteFile(mbox, []byte("From a@b Thu Jan  1 00:00:00 2026\nSubject: old\n\nold\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.MustSend("Subject: into the mbox\n\nbody\n", me)
	e.Once()
	q, _, _ := e.Run(nil, "mailq")
	if !strings.Contains(unwrapped(q), mbox+" is a file, not a Maildir") || !strings.Contains(unwrapped(q), `store = "mbox:`+mbox+`" in config.toml`) {
		t.Errorf("mailq does not say to write mbox:\n%s", q)
	}
	fixStore(t, e, `store = "~/mbox"`, `store = "mbox:~/mbox"`)
	if got, _ := os.ReadFile(mbox); strings.Count(string(got), "Subject: into the mbox") != 1 || !strings.Contains(string(got), "Subject: old") {
		t.Errorf("the mbox after the fix:\n%s", got)
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
}

// fixStore replaces the store line from with to in config.toml, asks for
// the waiting mail to be tried again at once (homepost flush), and runs
// a delivery.
func fixStore(t *testing.T, e *testenv.Env, from, to string) {
	t.Helper()
	cfg := e.Path(".config", "homepost", "config.toml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fixed := strings.Replace(string(b), from, to, 1)
	if fixed == string(b) {
		t.Fatalf("the store line is not in %s:\n%s", cfg, b)
	}
	if err := os.WriteFile(cfg, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := e.Run(nil, "homepost", "flush"); code != 0 {
		t.Fatalf("flush: exit %d: %s", code, stderr)
	}
	e.Once()
}
