package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"homepost/config"
)

// An outbox on a file system in memory (/dev/shm, /run: tmpfs) loses
// the mail that sendmail acknowledged at the next reboot: check warns
// under durability, naming the outbox and the file system, instead of
// "ok".
func TestOutboxInMemoryWarns(t *testing.T) {
	var st syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &st) != nil || st.Type != 0x01021994 {
		t.Skip("no tmpfs at /dev/shm")
	}
	shm, err := os.MkdirTemp("/dev/shm", "homepost-check-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	home := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", home, "Alice", os.Getuid()))
	cfg.Outbox = filepath.Join(shm, "outbox")
	durability := func() string {
		var b strings.Builder
		checkDurability(&checker{w: &b}, cfg)
		return b.String()
	}
	out := durability()
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "durability:") {
			line = l
		}
	}
	if !strings.HasPrefix(line, "warn") || !strings.Contains(line, cfg.Outbox) || !strings.Contains(line, "tmpfs") || !strings.Contains(line, "lost at a reboot") {
		t.Errorf("durability line: %q\n%s", line, out)
	}
	// The same configuration on a disk is ok.
	cfg.Outbox = filepath.Join(home, "outbox")
	if out := durability(); !strings.HasPrefix(out, "ok   durability: ") {
		t.Errorf("an outbox on a disk:\n%s", out)
	}
}
