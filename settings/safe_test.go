package settings

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A user private group (Debian, Ubuntu, Fedora: a group of the user's
// own and umask 002, so that an editor saves config.toml mode 0664)
// lets the file be group-writable; a group with another member does not.
func TestGroupWritableConfig(t *testing.T) {
	dir := t.TempDir()
	oldG, oldU := groupFile, userFile
	t.Cleanup(func() { groupFile, userFile = oldG, oldU })
	groupFile, userFile = filepath.Join(dir, "group"), filepath.Join(dir, "passwd")
	p := filepath.Join(dir, "config.toml")
	os.WriteFile(p, []byte("store = \"mbox:~/mbox\"\n"), 0o600)
	os.Chmod(p, 0o664)
	st, _ := os.Stat(p)
	gid := int(fileGid(st))
	uid := os.Getuid()
	id := NewIdentity("alice", dir, "", uid)
	line := func(name, members string) string { return name + ":x:" + itoa(gid) + ":" + members + "\n" }
	for _, tc := range []struct {
		group, passwd string
		ok            bool
	}{
		{line("alice", ""), "alice:x:" + itoa(uid) + ":" + itoa(gid) + "::/h:/bin/sh\n", true},
		{line("alice", "alice"), "", true},
		{line("staff", "alice,bob"), "", false},
		{line("alice", ""), "bob:x:" + itoa(uid+1) + ":" + itoa(gid) + "::/h:/bin/sh\n", false},
		{"", "", false}, // a group nobody knows
	} {
		os.WriteFile(groupFile, []byte(tc.group), 0o644)
		os.WriteFile(userFile, []byte(tc.passwd), 0o644)
		_, err := ReadConfig(p, id)
		if ok := err == nil; ok != tc.ok {
			t.Errorf("group %q passwd %q: %v, want ok=%v", tc.group, tc.passwd, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "group-writable (mode 0664)") {
			t.Errorf("error does not say group-writable: %v", err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func fileGid(st os.FileInfo) uint32 { return st.Sys().(*syscall.Stat_t).Gid }

// root whose HOME is a user's (sudo -E, su -m) finds the user's queue
// owned by the user: refused, but the advice is to run with root's own
// HOME or as that user, never a chown that would take the user's own
// queue from them.
func TestRootInUsersHomeAdvice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the directory to another user")
	}
	dir := t.TempDir()
	box := filepath.Join(dir, "outbox")
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(box, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{box, filepath.Join(box, "new"), filepath.Join(box, "cur"), filepath.Join(box, "tmp")} {
		if err := os.Chown(p, 54321, 54321); err != nil {
			t.Fatal(err)
		}
	}
	c := Defaults(NewIdentity("root", dir, "", 0))
	c.StateDir, c.Outbox = dir, box
	e := c.CheckQueue()
	if e == nil {
		t.Fatal("another user's outbox accepted for root")
	}
	if strings.Contains(e.Msg, "chown root /") || !strings.Contains(e.Msg, "sudo -H") || strings.Contains(e.Msg, "neither you") {
		t.Errorf("advice: %s", e.Msg)
	}
}

// sendmail, run for every cron job, examines each path once in a
// reading of the configuration: config.toml (one lstat, no stat
// besides), the directories above it and the queue's, which share HOME
// and those above it, and whether the queue can be made. A second
// reading with the same checker asks the file system nothing more.
func TestReadFileExaminesEachPathOnce(t *testing.T) {
	home := t.TempDir()
	os.Chmod(home, 0o700)
	dir := filepath.Join(home, ".config", "homepost")
	os.MkdirAll(dir, 0o700)
	p := filepath.Join(dir, "config.toml")
	os.WriteFile(p, []byte("store = \"mbox:~/mbox\"\n"), 0o600)
	id := NewIdentity("alice", home, "", os.Getuid())
	for _, outbox := range []bool{false, true} { // made yet, or not
		pc := newPathChecker(id.uid, id.user)
		if _, err := readFileWith(p, id, pc); err != nil {
			t.Fatal(err)
		}
		if n := len(pc.stats) + len(pc.access) + len(pc.fsys); pc.calls != n {
			t.Errorf("outbox made %v: %d system calls for %d paths (and file systems)", outbox, pc.calls, n)
		}
		before := pc.calls
		if _, err := readFileWith(p, id, pc); err != nil {
			t.Fatal(err)
		}
		if pc.calls != before {
			t.Errorf("outbox made %v: a second reading made %d system calls more", outbox, pc.calls-before)
		}
		for _, d := range []string{"tmp", "new", "cur"} {
			os.MkdirAll(filepath.Join(home, ".local", "state", "homepost", "outbox", d), 0o700)
		}
	}
}

// The directories of a file that steers delivery (~/.forward, an
// aliases file) follow config.toml's rule: a group-writable one only
// for a user private group, unless any group may (the system aliases'),
// never a world-writable one without the sticky bit.
func TestUnsafeFileDirs(t *testing.T) {
	dir := t.TempDir()
	oldG, oldU := groupFile, userFile
	t.Cleanup(func() { groupFile, userFile = oldG, oldU })
	groupFile, userFile = filepath.Join(dir, "group"), filepath.Join(dir, "passwd")
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o755)
	p := filepath.Join(home, ".forward")
	os.WriteFile(p, []byte("bob@example.org\n"), 0o644)
	st, _ := os.Stat(home)
	gid, uid := int(fileGid(st)), os.Getuid()
	private := "alice:x:" + itoa(gid) + ":\n"
	shared := "staff:x:" + itoa(gid) + ":alice,bob\n"
	for _, tc := range []struct {
		mode     os.FileMode
		group    string
		anyGroup bool
		why      string // "" when allowed
	}{
		{0o755, shared, false, ""},
		{0o775, private, false, ""},
		{0o775, shared, false, "group-writable (mode 0775)"},
		{0o775, shared, true, ""},
		{0o777, private, true, "world-writable (mode 0777)"},
		{0o777 | os.ModeSticky, shared, false, ""},
	} {
		os.WriteFile(groupFile, []byte(tc.group), 0o644)
		os.WriteFile(userFile, nil, 0o644)
		os.Chmod(home, tc.mode)
		u := UnsafeFileDirs(p, uid, "alice", tc.anyGroup)
		switch {
		case tc.why == "" && u != nil:
			t.Errorf("mode %v group %q anyGroup %v: refused: %v", tc.mode, tc.group, tc.anyGroup, u)
		case tc.why != "" && (u == nil || u.Path != home || u.Why != tc.why):
			t.Errorf("mode %v group %q anyGroup %v: %v, want %s", tc.mode, tc.group, tc.anyGroup, u, tc.why)
		case u != nil && !strings.Contains(u.OnPath(), home+", on the file's path, is "+tc.why+": another user could replace the file, so it is not obeyed; "):
			t.Errorf("OnPath: %s", u.OnPath())
		}
	}
}

// A file that is not a regular one is named by its type: the type bits
// alone ("d---------") read as a mode of 000.
func TestUnsafeFileNamesType(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{dir: "not a regular file (a directory)", fifo: "not a regular file (a FIFO)"} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := UnsafeFile(fi, os.Getuid(), false); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
}
