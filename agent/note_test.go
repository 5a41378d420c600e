package agent

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A note that cannot be written whole (a full disk) or put in place
// leaves no temporary file: each failed write of agent.status left one.
func TestWriteNoteLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "agent.status")
	// A write that fails with ENOSPC after the file was made: the
	// temporary name leads to /dev/full.
	tmp := p + ".tmp1"
	if err := os.Symlink("/dev/full", tmp); err != nil {
		t.Fatal(err)
	}
	if err := writeNote(p, tmp, []byte("pid 1\n")); !errors.Is(err, syscall.ENOSPC) { // no note to write over
		t.Fatalf("write to a full device: %v", err)
	}
	if _, err := os.Lstat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary file is left after a failed write: %v", err)
	}
	// With a note there already, a full disk has it written over in
	// place: a waiter reads the agent's answer.
	os.WriteFile(p, []byte("pid 1 100 100\n"), 0o600)
	os.Symlink("/dev/full", tmp)
	if err := writeNote(p, tmp, []byte("pid 1 200 200\n")); err != nil {
		t.Fatalf("in place on a full disk: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "pid 1 200 200\n" {
		t.Errorf("note after the full disk: %q", b)
	}
	if _, err := os.Lstat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary file is left: %v", err)
	}
	os.Remove(p)
	// A rename that fails: p is a directory with something in it.
	os.MkdirAll(filepath.Join(p, "x"), 0o700)
	if err := writeNote(p, p+".tmp2", []byte("pid 1\n")); err == nil {
		t.Fatal("rename over a directory succeeded")
	}
	if _, err := os.Lstat(p + ".tmp2"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary file is left after a failed rename: %v", err)
	}
	// And one that works.
	os.RemoveAll(p)
	if err := writeNote(p, p+".tmp3", []byte("pid 1\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "pid 1\n" {
		t.Errorf("note: %q", b)
	}
}
