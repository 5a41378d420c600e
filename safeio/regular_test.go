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
	if _, err := ReadRegular(dir, 100); err == nil || !strings.Contains(err.Error(), "not a regular file") {
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
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadRegular blocks on a FIFO")
	}
}
