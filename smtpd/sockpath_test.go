package smtpd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/config"
)

// A socket path longer than a Unix socket's may be (a deep HOME without
// a runtime directory) is refused with an error that says so and what
// to set, not the kernel's "bind: invalid argument"; homepost check's
// probe says the same.
func TestSocketPathTooLong(t *testing.T) {
	dir := t.TempDir()
	deep := filepath.Join(dir, strings.Repeat("d", 120-len(dir)-len("/smtp")-1))
	path := filepath.Join(deep, "smtp")
	cfg := config.Defaults(config.NewIdentity("alice", dir, "Alice", os.Getuid()))
	cfg.SMTP.Socket = path
	cfg.SMTP.Listen = nil
	want := fmt.Sprintf("the socket path %s is %d bytes, longer than the 107 bytes a Unix socket path may have: set [smtp] socket to a shorter path", path, len(path))
	ls, err := Listen(cfg, nil)
	for _, l := range ls {
		l.Close()
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Listen: %v\nwant %s", err, want)
	}
	p := ProbeAll(cfg, time.Second)[0]
	if p.Err == nil || !strings.Contains(p.Err.Error(), want) {
		t.Errorf("probe: %v\nwant %s", p.Err, want)
	}
	// 107 bytes is still a socket.
	cfg.SMTP.Socket = filepath.Join(dir, "r", strings.Repeat("s", 107-len(dir)-3))
	ls, err = Listen(cfg, nil)
	if err != nil || len(ls) != 1 {
		t.Fatalf("a path of %d bytes: %v", len(cfg.SMTP.Socket), err)
	}
	ls[0].Close()
}
