package safeio

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// entries lists dir's names, to see that no temporary file is left.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileCreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state")
	if err := WriteFile(p, []byte("one\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	before, _ := os.Stat(p)
	if err := WriteFile(p, []byte("two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "two\n" {
		t.Fatalf("content %q", got)
	}
	after, _ := os.Stat(p)
	if os.SameFile(before, after) {
		t.Fatal("the file was rewritten in place, not replaced by a rename")
	}
	if after.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", after.Mode())
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Fatalf("left behind: %v", names)
	}
}

// When the rename fails (a directory stands at the path), the old state
// stays and the temporary file goes.
func TestWriteFileRenameErrorRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(p, "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("x"), 0o600); err == nil {
		t.Fatal("no error replacing a directory")
	}
	if names := entries(t, dir); len(names) != 1 || names[0] != "state" {
		t.Fatalf("left behind: %v", names)
	}
	if st, err := os.Stat(p); err != nil || !st.IsDir() {
		t.Fatal("the directory was touched")
	}
}

// When a write fails (here: the file size limit, EFBIG), the old file
// is untouched and the temporary file goes.
func TestWriteFileWriteErrorRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	// Past the limit the kernel sends SIGXFSZ; ignored, write fails.
	signal.Ignore(syscall.SIGXFSZ)
	defer signal.Reset(syscall.SIGXFSZ)
	lim := old
	lim.Cur = 1024
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("cannot lower RLIMIT_FSIZE: %v", err)
	}
	err := WriteFile(p, make([]byte, 64<<10), 0o600)
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("error %v, want EFBIG", err)
	}
	if !strings.Contains(err.Error(), "write ") {
		t.Errorf("error says not what failed: %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Fatalf("old file now %q", got)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Fatalf("left behind: %v", names)
	}
}

func TestWriteFileMissingDirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no", "state")
	if err := WriteFile(p, []byte("x"), 0o600); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error %v", err)
	}
}

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "gone")
	if err := SyncDir(missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("error %v", err)
	}
}

func TestMkdirAll(t *testing.T) {
	base := t.TempDir()
	deep := filepath.Join(base, "a", "b", "c")
	if err := MkdirAll(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"a", "a/b", "a/b/c"} {
		st, err := os.Stat(filepath.Join(base, d))
		if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v %v", d, st, err)
		}
	}
	if err := MkdirAll(deep, 0o700); err != nil {
		t.Fatalf("existing directory: %v", err)
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	if err := MkdirAll(file, 0o700); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("a file: %v", err)
	}
	if err := MkdirAll(filepath.Join(file, "sub"), 0o700); err == nil {
		t.Fatal("a directory under a file")
	}
}

// The order that makes WriteFile durable, seen in the system calls it
// makes (under strace): the temporary file is fsynced before it is
// renamed over the path, and the directory is fsynced after the rename.
func TestWriteFileSyscallOrder(t *testing.T) {
	if p := os.Getenv("SAFEIO_TEST_WRITE"); p != "" {
		if err := WriteFile(p, []byte("durable\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed: the system call order of WriteFile is not checked")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "state")
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-qq", "-y", "-o", trace, "-e", "trace=openat,fsync,rename,renameat,renameat2",
		os.Args[0], "-test.run=^TestWriteFileSyscallOrder$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SAFEIO_TEST_WRITE="+target)
	if out, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(out), "PTRACE") || strings.Contains(string(out), "ptrace") {
			t.Skipf("strace cannot trace here: %s", out)
		}
		t.Fatalf("%v: %s", err, out)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	// -y prints each descriptor with its path: a call split over two
	// lines by another thread's ("<unfinished ...>") keeps its path.
	fsync := regexp.MustCompile(`fsync\(\d+<([^>]+)>`)
	rename := regexp.MustCompile(`rename(?:at2?)?\((?:AT_FDCWD(?:<[^>]*>)?, )?"([^"]+)", (?:AT_FDCWD(?:<[^>]*>)?, )?"([^"]+)"`)
	var steps []string
	for _, line := range strings.Split(string(b), "\n") {
		if m := fsync.FindStringSubmatch(line); m != nil && strings.HasPrefix(m[1], dir) {
			steps = append(steps, "fsync "+m[1])
		}
		if m := rename.FindStringSubmatch(line); m != nil && m[2] == target {
			steps = append(steps, "rename "+m[1])
		}
	}
	if len(steps) != 3 || !strings.HasPrefix(steps[0], "fsync "+dir+"/.state.tmp") ||
		steps[1] != "rename "+steps[0][len("fsync "):] || steps[2] != "fsync "+dir {
		t.Fatalf("steps:\n%s\ntrace:\n%s", strings.Join(steps, "\n"), b)
	}
}
