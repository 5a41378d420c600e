package safeio

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ReadRegular reads a regular file, and refuses a FIFO at once (a plain
// open waits for a writer for ever), a directory and a file over the
// limit.
func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(file, []byte("store = \"mbox:~/mbox\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadRegular(file, 100); err != nil || string(b) != "store = \"mbox:~/mbox\"\n" {
		t.Errorf("regular file: %q, %v", b, err)
	}
	if _, err := ReadRegular(file, 10); err == nil || !strings.Contains(err.Error(), "larger than 10 bytes") {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := ReadRegular(dir, 100); err == nil || !strings.Contains(err.Error(), "not a regular file (a directory)") {
		t.Errorf("directory: %v", err)
	}
	if _, err := ReadRegular(filepath.Join(dir, "none"), 100); !os.IsNotExist(err) {
		t.Errorf("missing file: %v, want not-exist", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := ReadRegular(fifo, 100)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file (a FIFO)") {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadRegular blocks on a FIFO")
	}
}

// InMemory names tmpfs (where /dev/shm is one) and nothing for the disk
// the tests' temporary directory is on, unless that is tmpfs too.
func TestInMemory(t *testing.T) {
	var st syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &st) == nil && st.Type == 0x01021994 {
		if got := InMemory("/dev/shm"); got != "tmpfs" {
			t.Errorf("InMemory(/dev/shm) = %q", got)
		}
	}
	if syscall.Statfs(t.TempDir(), &st) == nil && st.Type != 0x01021994 && st.Type != 0x858458f6 {
		if got := InMemory(t.TempDir()); got != "" {
			t.Errorf("InMemory(a disk directory) = %q", got)
		}
	}
	if got := InMemory("/no/such/dir"); got != "" {
		t.Errorf("InMemory of a missing directory = %q", got)
	}
}
