package doctor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"homepost/config"
)

// check warns of an outbox on a file system with less than lowSpace
// free, and is quiet on one with room.
func TestCheckSpace(t *testing.T) {
	home := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", home, "Alice", os.Getuid()))
	line := func() string {
		var b strings.Builder
		checkSpace(&checker{w: &b}, cfg)
		return b.String()
	}
	if got := line(); got != "" {
		t.Skipf("SKIP: the test's own file system is short of space: %s", got)
	}
	small := filepath.Join(home, "small")
	os.Mkdir(small, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", small).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot mount a small tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", small).Run()
	cfg.Outbox = filepath.Join(small, "outbox")
	if got := line(); !strings.HasPrefix(got, "warn space: the file system of the outbox ("+cfg.Outbox+") has 256 KiB free") {
		t.Errorf("outbox on 256 KiB: %q", got)
	}
}
