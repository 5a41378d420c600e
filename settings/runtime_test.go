package settings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A runtime directory that does not exist (after a reboot, in a su or
// sudo -i session, under cron with a copied environment), is not the
// user's, or is open to others is no runtime directory: the socket is
// in the state directory, for the agent and for every client alike.
func TestRuntimeDir(t *testing.T) {
	base := t.TempDir()
	good := filepath.Join(base, "good")
	os.Mkdir(good, 0o700)
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o755)
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	for _, c := range []struct {
		env, dir, why string
	}{
		{good, good, ""},
		{"", "", ""},
		{"relative/dir", "", "not an absolute path"},
		{filepath.Join(base, "missing"), "", "does not exist"},
		{open, "", "mode 0755"},
		{file, "", "not a directory"},
	} {
		t.Setenv("XDG_RUNTIME_DIR", c.env)
		dir, why := RuntimeDir()
		if dir != c.dir || (c.why == "") != (why == "") || !strings.Contains(why, c.why) {
			t.Errorf("XDG_RUNTIME_DIR=%q: %q (%s), want %q (%s)", c.env, dir, why, c.dir, c.why)
		}
	}
	// The default socket follows.
	id := NewIdentity("alice", base, "Alice", os.Getuid())
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(base, "missing"))
	if c := Defaults(id); c.SMTP.Socket != filepath.Join(base, ".local/state/homepost/smtp") {
		t.Errorf("socket with a missing runtime directory: %s", c.SMTP.Socket)
	}
	t.Setenv("XDG_RUNTIME_DIR", good)
	if c := Defaults(id); c.SMTP.Socket != filepath.Join(good, "homepost", "smtp") {
		t.Errorf("socket with a runtime directory: %s", c.SMTP.Socket)
	}
}
