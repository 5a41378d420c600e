package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The key changes with what the build reads and only with that.
func TestSourceKey(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "go.mod"), "module x\n")
	write(t, filepath.Join(root, "main.go"), "package main\nfunc main() {}\n")
	write(t, filepath.Join(root, "pkg", "a.go"), "package pkg\n")
	key := func() string {
		t.Helper()
		k, err := sourceKey(root)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key()
	for _, f := range []string{"main_test.go", "pkg/a_test.go", "test/e2e/x_test.go", "test/bench/main.go", "pkg/testdata/in.txt", ".git/HEAD", "homepost", "sendmail", "mk/link-system.sh"} {
		write(t, filepath.Join(root, f), "anything")
		if !strings.Contains(f, ".") || strings.HasSuffix(f, ".sh") {
			os.Chmod(filepath.Join(root, f), 0o755) // a program make built, a script
		}
		if k := key(); k != base {
			t.Errorf("%s changed the key; the build does not read it", f)
		}
	}
	for _, f := range []string{"pkg/a.go", "pkg/b.go", "go.sum", "man/homepost.1"} {
		write(t, filepath.Join(root, f), "package pkg // "+f+"\n")
		if k := key(); k == base {
			t.Errorf("%s did not change the key", f)
		}
		base = key()
	}
	// A large data file is known by its size and time, not read.
	big := filepath.Join(root, "pkg", "big.dat")
	write(t, big, strings.Repeat("x", 5<<20))
	base = key()
	os.Chtimes(big, time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
	if key() == base {
		t.Error("a large file touched did not change the key")
	}
	base = key()
	// A file renamed keeps its content but changes the key.
	os.Rename(filepath.Join(root, "pkg", "b.go"), filepath.Join(root, "pkg", "c.go"))
	if key() == base {
		t.Error("a renamed file did not change the key")
	}
}

// A build directory that another user could write is refused.
func TestCacheDirPrivate(t *testing.T) {
	tmp := t.TempDir()
	old := startTempDir
	startTempDir = tmp
	t.Cleanup(func() { startTempDir = old })
	dir, err := cacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: mode %v", dir, fi.Mode())
	}
	os.Chmod(dir, 0o777)
	if _, err := cacheDir(); err == nil {
		t.Error("a world-writable build cache was used")
	}
	os.Remove(dir)
	os.Symlink(t.TempDir(), dir)
	if _, err := cacheDir(); err == nil {
		t.Error("a build cache reached through a symbolic link was used")
	}
}

// The build cache stays where the process started: a test that moves
// TMPDIR (onto a file system it mounts and unmounts) before the first
// build must not leave the binaries there for the tests after it.
func TestCacheDirIgnoresTMPDIRSetByATest(t *testing.T) {
	moved := t.TempDir()
	t.Setenv("TMPDIR", moved)
	dir, err := cacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(dir, moved+string(filepath.Separator)) {
		t.Errorf("the build cache %s follows a TMPDIR set after the process started", dir)
	}
}

// prune keeps recent builds, and the newest few of the older ones.
func TestPrune(t *testing.T) {
	cache := t.TempDir()
	old := time.Now().Add(-2 * minAge)
	for i := range cacheKeep + 3 {
		d := filepath.Join(cache, fmt.Sprintf("old%02d", i))
		os.Mkdir(d, 0o700)
		at := old.Add(-time.Duration(i) * time.Minute) // old00 is the newest
		os.Chtimes(d, at, at)
	}
	os.Mkdir(filepath.Join(cache, "recent"), 0o700)
	ancient := filepath.Join(cache, "ancient.lock")
	write(t, ancient, "")
	at := time.Now().Add(-2 * cacheAge)
	os.Chtimes(ancient, at, at)
	prune(cache)
	left := Files(cache)
	want := map[string]bool{"recent": true}
	for i := range cacheKeep - 1 {
		want[fmt.Sprintf("old%02d", i)] = true
	}
	if len(left) != len(want) {
		t.Errorf("left %v, want %d entries", left, len(want))
	}
	for _, n := range left {
		if !want[n] {
			t.Errorf("prune kept %s", n)
		}
	}
}

// Binary gives a program that runs, under each of its names.
func TestBinary(t *testing.T) {
	dir := Binary(t)
	if again := Binary(t); again != dir {
		t.Errorf("second call: %s, first %s", again, dir)
	}
	for _, name := range append([]string{"homepost"}, Links...) {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	out, err := exec.Command(Program(t, "homepost"), "--help").CombinedOutput()
	if err != nil || len(out) == 0 {
		t.Errorf("homepost --help: %v\n%s", err, out)
	}
}
