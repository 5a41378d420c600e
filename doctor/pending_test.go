package doctor

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"homepost/maildir"
)

// pendingHome makes a temporary HOME whose store is the mbox ~/inbox,
// and returns it.
func pendingHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("MAIL", "")
	t.Setenv("MBOX", "")
	cfgFile := filepath.Join(home, "homepost.toml")
	t.Setenv("HOMEPOST_CONFIG", cfgFile)
	store := filepath.Join(home, "inbox")
	if err := os.WriteFile(cfgFile, []byte("system_aliases = \"\"\nstore = \"mbox:"+store+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

// writeMbox writes an mbox of n messages, all read (Status: RO) but the
// last, which mail's quit marks read: the rewrite changes only the last
// message, so that its record (the new bytes from the first changed
// one on) is smaller than the mbox.
func writeMbox(t *testing.T, path string, n int) {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		status := "Status: RO\n"
		if i == n {
			status = ""
		}
		fmt.Fprintf(&b, "From u%d@example.org Sat Jan  2 09:00:00 2021\nFrom: u%d@example.org\nSubject: Subject %d\n%s\nBody of message %d.\n\n", i, i, i, status, i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// stopRewrite rewrites the mbox at path as mail's quit does (every
// message kept and marked read) in another process, stopped part way as
// a crash stops it. stop "applying": the process may write no file
// larger than the mbox, so the rewrite's first step that grows the mbox
// (right after the record's header is durable) fails, and the record is
// left complete and not applied, as a crash there leaves it. stop
// "prepare": the process exits before the header is written, leaving an
// incomplete record and the mbox untouched.
func stopRewrite(t *testing.T, path, stop string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoppedRewriteProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HOMEPOST_TEST_REWRITE="+path, "HOMEPOST_TEST_REWRITE_STOP="+stop)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the rewrite of %s: %v\n%s", path, err, out)
	}
	if stop == "applying" && !bytes.Contains(out, []byte("written when the mailbox is next opened")) {
		t.Fatalf("the rewrite of %s did not stop after its record:\n%s", path, out)
	}
}

// TestStoppedRewriteProcess is the process stopRewrite runs.
func TestStoppedRewriteProcess(t *testing.T) {
	path := os.Getenv("HOMEPOST_TEST_REWRITE")
	if path == "" {
		t.Skip("run by stopRewrite")
	}
	var msgs []maildir.MboxMessage
	f, read, err := maildir.Mbox(path).Open(func(m *maildir.MboxMessage, _ []byte) { msgs = append(msgs, *m) })
	if err != nil {
		t.Fatal(err)
	}
	var keep []maildir.Kept
	for _, m := range msgs {
		keep = append(keep, maildir.Kept{Off: m.Off, Len: m.Len, Status: "RO"})
	}
	var prepare func() error
	switch os.Getenv("HOMEPOST_TEST_REWRITE_STOP") {
	case "prepare":
		prepare = func() error { os.Exit(0); return nil }
	case "applying":
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
			t.Fatal(err)
		}
		lim.Cur = uint64(st.Size())
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	_, err = maildir.Mbox(path).RewriteWith(f, read, slices.Values(keep), prepare)
	fmt.Printf("rewrite: %v\n", err)
}

// warnLine returns the warning of check about mbox that holds all of
// want, "" when there is none.
func warnLine(out string, want ...string) string {
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "warn mbox: ") {
			continue
		}
		all := true
		for _, w := range want {
			all = all && strings.Contains(l, w)
		}
		if all {
			return l
		}
	}
	return ""
}

// A crash of mail in the middle of an mbox rewrite leaves the record of
// the rewrite, complete, to be finished by the next homepost program
// that locks the mbox. Until then, mutt or s-nail quitting on the half
// rewritten mbox would rewrite it first, and the record could only be
// set aside: check names each such mbox, beside it and in the state
// directory, with what to do first, and leaves the mbox and the record
// as they are. A record made for a file that was replaced since is
// named with what becomes of it; a record that is not complete (the
// mbox was not touched) is not named.
func TestCheckNamesPendingRewrites(t *testing.T) {
	home := pendingHome(t)
	store := filepath.Join(home, "inbox")
	writeMbox(t, store, 30)
	stopRewrite(t, store, "applying")
	beside := filepath.Join(home, ".inbox.homepost-rewrite")

	// $MAIL in a directory others may write to: the record goes to the
	// state directory, named by the mbox's file system and inode.
	spoolDir := filepath.Join(home, "spool")
	os.Mkdir(spoolDir, 0o700)
	spool := filepath.Join(spoolDir, "user")
	writeMbox(t, spool, 30)
	os.Chmod(spoolDir, 0o1777)
	t.Setenv("MAIL", spool)
	stopRewrite(t, spool, "applying")
	dev, ino, err := maildir.PathID(spool)
	if err != nil {
		t.Fatal(err)
	}
	inState := filepath.Join(home, ".local", "state", "homepost", "mbox-rewrite", fmt.Sprintf("%d-%d", dev, ino))

	// ~/mbox: stopped before the record was complete.
	mbox := filepath.Join(home, "mbox")
	writeMbox(t, mbox, 30)
	stopRewrite(t, mbox, "prepare")
	incomplete := filepath.Join(home, ".mbox.homepost-rewrite")

	// $MBOX, replaced by another file since the crash: the record is
	// set aside when homepost next locks it.
	saved := filepath.Join(home, "mail", "saved")
	os.Mkdir(filepath.Dir(saved), 0o700)
	writeMbox(t, saved, 30)
	t.Setenv("MBOX", saved)
	stopRewrite(t, saved, "applying")
	writeMbox(t, saved+".new", 2)
	if err := os.Rename(saved+".new", saved); err != nil {
		t.Fatal(err)
	}
	replaced := filepath.Join(home, "mail", ".saved.homepost-rewrite")

	before := map[string][]byte{}
	for _, n := range []string{store, beside, spool, inState, mbox, incomplete, saved, replaced} {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatalf("after the stopped rewrites: %v", err)
		}
		before[n] = b
	}

	var b strings.Builder
	Run(&b, Options{})
	out := b.String()
	for _, c := range []struct{ mbox, record string }{{store, beside}, {spool, inState}} {
		if warnLine(out, c.mbox+": ", c.record, "mail -H -f "+c.mbox, "before mutt or s-nail") == "" {
			t.Errorf("check does not name the pending rewrite of %s (record %s) with what to do:\n%s", c.mbox, c.record, out)
		}
	}
	if l := warnLine(out, store+": ", beside); !strings.Contains(l, "let the agent deliver to it") {
		t.Errorf("the warning of the store does not say that a delivery finishes it too: %s", l)
	}
	if warnLine(out, saved+": ", replaced, "made for another file", "mail -H -f "+saved) == "" {
		t.Errorf("check does not name the record %s of a mailbox replaced since:\n%s", replaced, out)
	}
	if strings.Contains(out, incomplete) {
		t.Errorf("check names the incomplete record %s:\n%s", incomplete, out)
	}
	for n, was := range before {
		if now, err := os.ReadFile(n); err != nil || !bytes.Equal(now, was) {
			t.Errorf("check changed %s (%v)", n, err)
		}
	}
}

// writeNote writes a note of mail's appends in the state directory's
// mail-appends/ as mail writes it: the file appended to, then one line
// for each copy. pid is the writer's.
func writeNote(t *testing.T, home string, pid int, path string, dev, ino uint64, off, n int64) string {
	t.Helper()
	dir := filepath.Join(home, ".local", "state", "homepost", "mail-appends")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, fmt.Sprintf("1764756000000000000.%d.1", pid))
	note := fmt.Sprintf(`{"path":%q,"dev":%d,"ino":%d}
{"sender":"u1@example.org","off":0,"len":%d,"sha256":"%064x","time":"2026-12-03T10:00:00Z"}
{"sender":"u2@example.org","off":%d,"len":%d,"sha256":"%064x","time":"2026-12-03T10:00:01Z"}
`, path, dev, ino, off, 1, off, n, 2)
	if err := os.WriteFile(name, []byte(note), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// deadPID returns the id of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// A note of an append that mail left in the state directory means mail
// was killed while it appended messages (a move to ~/mbox at quit, a
// save): the last copy may be cut off at the end of the file. check
// names the file and where the copy starts, and says that the next mail
// checks it; a note of quit's move, the mailbox moved from and that the
// next mail completes the move; a note whose file is gone, with what to
// do. The
// note of a mail still running (its append in progress) is not named,
// and check leaves every note where it is.
func TestCheckNamesAppendNotes(t *testing.T) {
	home := pendingHome(t)
	mbox := filepath.Join(home, "mbox")
	writeMbox(t, mbox, 2)
	st, _ := os.Stat(mbox)
	dev, ino, err := maildir.PathID(mbox)
	if err != nil {
		t.Fatal(err)
	}
	// The second copy, cut off by the kill.
	f, _ := os.OpenFile(mbox, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("From u2@example.org Sat Jan  2 09:00:00 2021\nFrom: u2@exa")
	f.Close()
	killed := writeNote(t, home, deadPID(t), mbox, dev, ino, st.Size(), 400)
	gone := filepath.Join(home, "mail", "saved")
	goneNote := writeNote(t, home, deadPID(t), gone, dev, ino+1, 1234, 400)
	running := writeNote(t, home, os.Getpid(), mbox, dev, ino, st.Size(), 400)
	// A note of quit's move names the mailbox moved from, and says
	// when the last copy was found whole.
	store := filepath.Join(home, "inbox")
	moved := filepath.Join(home, ".local", "state", "homepost", "mail-appends", fmt.Sprintf("1764756000000000001.%d.1", deadPID(t)))
	note := fmt.Sprintf(`{"path":%q,"dev":%d,"ino":%d,"from":{"kind":"mbox","path":%q}}
{"sender":"u1@example.org","off":0,"len":200,"sha256":"%064x","time":"2026-12-03T10:00:00Z","src":"ab","dups":1}
{"last":"whole"}
`, mbox, dev, ino, store, 1)
	if err := os.WriteFile(moved, []byte(note), 0o600); err != nil {
		t.Fatal(err)
	}

	var b strings.Builder
	Run(&b, Options{})
	out := b.String()
	if l := warnLine(out, mbox+": ", killed, fmt.Sprintf("byte %d", st.Size())); l == "" || !strings.Contains(l, "the next mail") {
		t.Errorf("check does not name the note %s of a killed mail with where its copy starts and that the next mail checks it:\n%s", killed, out)
	}
	if l := warnLine(out, gone+": ", goneNote, "byte 1234"); l == "" || !strings.Contains(l, "remove "+goneNote) {
		t.Errorf("check does not name the note %s of a file that is gone with what to do:\n%s", goneNote, out)
	}
	if warnLine(out, mbox+": ", "from "+store, moved, "every copy is whole", "removes from "+store) == "" {
		t.Errorf("check does not name the note %s of a move with what the next mail does:\n%s", moved, out)
	}
	if strings.Contains(out, running) {
		t.Errorf("check names the note %s of a mail still running:\n%s", running, out)
	}
	for _, n := range []string{killed, goneNote, running, moved} {
		if _, err := os.Stat(n); err != nil {
			t.Errorf("check touched the note: %v", err)
		}
	}
}
