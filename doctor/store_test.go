package doctor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"homepost/config"
)

// unwritable makes dir refuse new entries, for root too where it can
// (chattr +i), and undoes it when the test ends.
func unwritable(t *testing.T, dir string) {
	t.Helper()
	if os.Getuid() != 0 {
		os.Chmod(dir, 0o555)
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return
	}
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("root, and no chattr +i here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
}

func storeLine(t *testing.T, store string) string {
	t.Helper()
	home := filepath.Dir(filepath.Clean(store))
	cfg := config.Defaults(config.NewIdentity("alice", home, "Alice", os.Getuid()))
	cfg.Store = store
	var b strings.Builder
	checkStore(&checker{w: &b}, cfg)
	return b.String()
}

// check says of a Maildir store what delivery will find: a Maildir that
// is a symbolic link to nothing, or whose tmp/ or new/ takes no file,
// FAILs, naming the path; one that lacks a subdirectory is completed as
// delivery completes it.
func TestMaildirStoreAsDeliverySeesIt(t *testing.T) {
	home := t.TempDir()

	// A link to a directory not made yet (a data disk not mounted).
	target := filepath.Join(home, "data", "real", "Maildir")
	os.MkdirAll(filepath.Dir(target), 0o700)
	os.Symlink(target, filepath.Join(home, "Maildir"))
	out := storeLine(t, filepath.Join(home, "Maildir")+"/")
	if !strings.HasPrefix(out, "FAIL store: ") || !strings.Contains(out, filepath.Join(home, "Maildir")+" is a symbolic link to "+target+", which does not exist") {
		t.Errorf("dangling link:\n%s", out)
	}
	// A link on the way to it.
	os.Symlink(filepath.Join(home, "gone"), filepath.Join(home, "mnt"))
	out = storeLine(t, filepath.Join(home, "mnt", "Mail")+"/")
	if !strings.HasPrefix(out, "FAIL store: ") || !strings.Contains(out, filepath.Join(home, "mnt")+" is a symbolic link to "+filepath.Join(home, "gone")) {
		t.Errorf("dangling link above the store:\n%s", out)
	}

	// A Maildir without cur/: completed, as delivery does.
	md := filepath.Join(home, "md")
	os.MkdirAll(filepath.Join(md, "new"), 0o700)
	os.MkdirAll(filepath.Join(md, "tmp"), 0o700)
	out = storeLine(t, md+"/")
	if !strings.HasPrefix(out, "ok   store: "+md+"/ writable") {
		t.Errorf("Maildir without cur/:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(md, "cur")); err != nil {
		t.Errorf("cur/ not made: %v", err)
	}
	if names, _ := os.ReadDir(filepath.Join(md, "new")); len(names) != 0 {
		t.Errorf("the probe is left in new/: %v", names)
	}
	if names, _ := os.ReadDir(filepath.Join(md, "tmp")); len(names) != 0 {
		t.Errorf("the probe is left in tmp/: %v", names)
	}

	// new/ takes no file: delivery's rename from tmp/ fails.
	ro := filepath.Join(home, "ro")
	for _, sub := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(ro, sub), 0o700)
	}
	unwritable(t, filepath.Join(ro, "new"))
	out = storeLine(t, ro+"/")
	if !strings.HasPrefix(out, "FAIL store: ") || !strings.Contains(out, filepath.Join(ro, "new")) {
		t.Errorf("new/ not writable:\n%s", out)
	}

	// tmp/ takes no file.
	rt := filepath.Join(home, "rt")
	for _, sub := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(rt, sub), 0o700)
	}
	unwritable(t, filepath.Join(rt, "tmp"))
	out = storeLine(t, rt+"/")
	if !strings.HasPrefix(out, "FAIL store: ") || !strings.Contains(out, filepath.Join(rt, "tmp")) {
		t.Errorf("tmp/ not writable:\n%s", out)
	}

	// A Maildir to be made where its parent is writable.
	out = storeLine(t, filepath.Join(home, "later", "Maildir")+"/")
	if !strings.HasPrefix(out, "ok   store: ") || !strings.Contains(out, "will be created") {
		t.Errorf("Maildir to be made:\n%s", out)
	}
}

// An mbox store that is an existing directory (a Maildir named as an
// mbox) FAILs, saying how to name a Maildir.
func TestMboxStoreIsADirectory(t *testing.T) {
	home := t.TempDir()
	md := filepath.Join(home, "Maildir")
	os.MkdirAll(filepath.Join(md, "new"), 0o700)
	out := storeLine(t, "mbox:"+md)
	if !strings.HasPrefix(out, "FAIL store: ") || !strings.Contains(out, md+" is a directory") || !strings.Contains(out, "store = \""+md+"/\"") {
		t.Errorf("mbox that is a directory:\n%s", out)
	}
}

// A Maildir store that is an existing file (an mbox written without
// "mbox:") FAILs, saying how to name an mbox: it said only "not a
// directory".
func TestMaildirStoreIsAFile(t *testing.T) {
	home := t.TempDir()
	mbox := filepath.Join(home, "mbox")
	if err := os.WriteFile(mbox, []byte("From a@b Thu Jan  1 00:00:00 2026\nSubject: x\n\nb\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, store := range []string{mbox, mbox + "/"} {
		out := storeLine(t, store)
		if !strings.HasPrefix(out, "FAIL store: ") || !strings.Contains(out, mbox+" is a file, not a Maildir") || !strings.Contains(out, `store = "mbox:`+mbox+`"`) {
			t.Errorf("store %s, a file:\n%s", store, out)
		}
	}
}
