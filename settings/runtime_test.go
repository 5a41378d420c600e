package settings

import (
	"os"
	"path/filepath"
	"strconv"
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

// Without XDG_RUNTIME_DIR (cron's @reboot, su), the runtime directory
// is the one logind makes, /run/user/UID, when it is the user's and
// open to no one else: an agent started there listens where the login
// session's programs look. Anything else keeps the state directory.
func TestRuntimeDirUnset(t *testing.T) {
	base := t.TempDir()
	old := runUser
	runUser = base
	t.Cleanup(func() { runUser = old })
	t.Setenv("XDG_RUNTIME_DIR", "")
	mine := filepath.Join(base, strconv.Itoa(os.Getuid()))
	if dir, why := RuntimeDir(); dir != "" || why != "" {
		t.Errorf("no /run/user/UID: %q (%s)", dir, why)
	}
	os.Mkdir(mine, 0o700)
	if dir, why := RuntimeDir(); dir != mine || why != "" {
		t.Errorf("/run/user/UID mode 0700: %q (%s), want %s", dir, why, mine)
	}
	id := NewIdentity("alice", base, "Alice", os.Getuid())
	t.Setenv("XDG_STATE_HOME", "")
	if c := Defaults(id); c.SMTP.Socket != filepath.Join(mine, "homepost", "smtp") {
		t.Errorf("socket with /run/user/UID and no XDG_RUNTIME_DIR: %s", c.SMTP.Socket)
	}
	os.Chmod(mine, 0o755)
	if dir, _ := RuntimeDir(); dir != "" {
		t.Errorf("/run/user/UID open to others taken: %q", dir)
	}
	os.Chmod(mine, 0o700)
	if os.Getuid() == 0 {
		os.Chown(mine, 1001, 1001)
		if dir, _ := RuntimeDir(); dir != "" {
			t.Errorf("/run/user/UID of another user taken: %q", dir)
		}
	}
	// A variable that is set is still the one judged.
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(base, "missing"))
	if dir, why := RuntimeDir(); dir != "" || !strings.Contains(why, "does not exist") {
		t.Errorf("XDG_RUNTIME_DIR set but missing: %q (%s)", dir, why)
	}
}
