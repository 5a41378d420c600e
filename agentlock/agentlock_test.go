package agentlock

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.lock")
	if _, running := Running(path); running {
		t.Fatal("running without a lock file")
	}
	if err := os.WriteFile(path, []byte("4242 once\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, running := Running(path); running {
		t.Fatal("running while nobody holds the lock")
	}
	// A holder: another open file description, as the agent's is.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if pid, running := Running(path); !running || pid != 4242 {
		t.Fatalf("Running = %d %v, want 4242 true", pid, running)
	}
	if pid, word := ReadState(path); pid != 4242 || word != "once" {
		t.Fatalf("ReadState = %d %q", pid, word)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if _, running := Running(path); running {
		t.Fatal("running after the holder let go")
	}
}
