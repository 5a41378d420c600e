package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"homepost/test/testenv"
)

// homepost flush returns while the state directory's file system is
// full: the agent answers in agent.status written over in place, where
// no new file can be made. flush waited as long as the disk stayed full
// (ten minutes in a test by hand; for ever in a cron job).
func TestFlushOnFullDisk(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	state := e.Path(".local", "state")
	os.MkdirAll(state, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", state).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot mount a small tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", state).Run()
	e.StartAgent()
	// One flush with room, so that agent.status exists.
	if _, stderr, code := e.Run(nil, "homepost", "flush"); code != 0 {
		t.Fatalf("flush: %d %s", code, stderr)
	}
	fill, err := os.Create(filepath.Join(state, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := fill.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	fill.Close()
	c := e.Cmd(nil, "homepost", "flush")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		c.Process.Kill()
		<-done
		t.Fatal("homepost flush still waiting 30 s into a full disk")
	}
}
