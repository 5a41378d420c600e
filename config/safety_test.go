package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/settings"
)

// writeMode writes a config file and gives it mode, whatever the umask.
func writeMode(t *testing.T, p, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// queueEnv points HOME, the XDG variables and HOMEPOST_CONFIG at a
// fresh home and returns it with the config path.
func queueEnv(t *testing.T) (home, p string) {
	home = t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	p = filepath.Join(home, "hp.toml")
	t.Setenv("HOMEPOST_CONFIG", p)
	return home, p
}

// A config.toml that another user can write names an exec: relay that
// would run as the user: it is an error that says what is wrong and how
// to mend it, and the shims queue in the default outbox, not in one
// that the file names (another user's choice too).
func TestConfigOthersCanWriteIsRefused(t *testing.T) {
	home, p := queueEnv(t)
	q2 := filepath.Join(home, "q2")
	body := "outbox = \"" + q2 + "\"\n[relay]\nurl = \"exec:/bin/true\"\n"
	writeMode(t, p, body, 0o666)
	_, err := Load()
	var ce *Error
	if !errors.As(err, &ce) || !ce.Unsafe || !strings.Contains(err.Error(), "world-writable") || !strings.Contains(err.Error(), "chmod go-w "+p) {
		t.Fatalf("Load of a mode 0666 file: %v", err)
	}
	id := NewIdentity("alice", home, "Alice", os.Getuid())
	if _, err := settings.ReadFile(p, id); !errors.Is(err, settings.ErrNotSimple) {
		t.Errorf("settings.ReadFile took a mode 0666 file: %v", err)
	}
	c, err := LoadQueue()
	var uo *UnknownOutbox
	if c == nil || !errors.As(err, &uo) || c.Outbox != filepath.Join(home, ".local/state/homepost/outbox") {
		t.Fatalf("LoadQueue: %+v %v: want the default outbox", c, err)
	}
	if c.Relay.URL != "" {
		t.Errorf("the fallback took the relay %q", c.Relay.URL)
	}
	// Mended, it is read.
	os.Chmod(p, 0o644)
	if c, err := Load(); err != nil || c.Outbox != q2 {
		t.Fatalf("mode 0644: %v %v", c, err)
	}
	// Group-writable, where the group is not the user's own alone.
	if os.Getuid() == 0 {
		os.Chmod(p, 0o664)
		os.Chown(p, 0, 65534)
		// nogroup is no user's private group.
		if _, err := Load(); err == nil || !strings.Contains(err.Error(), "group-writable") {
			t.Errorf("mode 0664, group nogroup: %v", err)
		}
		os.Chown(p, 65534, 0)
		os.Chmod(p, 0o644)
		if _, err := Load(); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") || !strings.Contains(err.Error(), "chown") {
			t.Errorf("owned by another user: %v", err)
		}
		os.Chown(p, 0, 0)
	}
}

// A config.toml in a directory that others can write (without the
// sticky bit) can be replaced by them: refused, naming the directory.
// In a sticky directory (/tmp) a file of the user's is fine.
func TestConfigInADirectoryOthersCanWrite(t *testing.T) {
	home, _ := queueEnv(t)
	open := filepath.Join(home, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o777)
	p := filepath.Join(open, "hp.toml")
	t.Setenv("HOMEPOST_CONFIG", p)
	writeMode(t, p, "store = \"mbox:~/mbox\"\n", 0o644)
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), open+", on the file's path, is world-writable") {
		t.Fatalf("Load: %v", err)
	}
	os.Chmod(open, os.ModeSticky|0o777)
	if _, err := Load(); err != nil {
		t.Fatalf("in a sticky directory: %v", err)
	}
	// Through a symbolic link into an open directory.
	os.Chmod(open, 0o777)
	link := filepath.Join(home, "link.toml")
	os.Symlink(p, link)
	t.Setenv("HOMEPOST_CONFIG", link)
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), open) {
		t.Fatalf("a link into an open directory: %v", err)
	}
}

// A config.toml that is a FIFO (or a device) is an error at once, not a
// wait for a writer that never comes; the shims queue in the default
// outbox.
func TestConfigFIFO(t *testing.T) {
	home, p := queueEnv(t)
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Load()
		if err == nil {
			_, err = LoadQueue()
		}
		c, qerr := LoadQueue()
		if c == nil || c.Outbox != filepath.Join(home, ".local/state/homepost/outbox") {
			err = errors.New("LoadQueue: no default outbox")
		}
		var uo *UnknownOutbox
		if !errors.As(qerr, &uo) {
			err = errors.Join(err, errors.New("LoadQueue: not an UnknownOutbox"))
		}
		if _, rerr := settings.ReadFile(p, NewIdentity("alice", home, "", os.Getuid())); !errors.Is(rerr, settings.ErrNotSimple) {
			err = errors.Join(err, rerr)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "FIFO") {
			t.Fatalf("want an error naming the FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("loading a FIFO blocks")
	}
	t.Setenv("HOMEPOST_CONFIG", "/dev/zero")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "a device") {
		t.Errorf("/dev/zero: %v", err)
	}
}

// A state_dir or outbox that others could change (a directory open to
// all, or under one without the sticky bit) is a config error with
// file:line; the shims queue in the default outbox. With no file, a
// default place that others could change refuses mail rather than
// queue it where it could be deleted.
func TestQueueOthersCanWrite(t *testing.T) {
	home, p := queueEnv(t)
	shared := filepath.Join(home, "shared")
	os.Mkdir(shared, 0o700)
	os.Chmod(shared, 0o777)
	writeMode(t, p, "# state\nstate_dir = \""+shared+"\"\n", 0o600)
	_, err := Load()
	var ce *Error
	if !errors.As(err, &ce) || ce.Line != 2 || ce.Key != "state_dir" || !ce.Unsafe || !strings.Contains(err.Error(), shared+" is world-writable") {
		t.Fatalf("state_dir open to all: %v", err)
	}
	c, err := LoadQueue()
	if c == nil || c.Outbox != filepath.Join(home, ".local/state/homepost/outbox") {
		t.Fatalf("LoadQueue: %v %v: want the default outbox", c, err)
	}
	// Sticky (as /tmp): a directory of the user's in it is fine, one
	// open to others in it is not.
	os.Chmod(shared, os.ModeSticky|0o777)
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "world-writable") {
		t.Errorf("state_dir itself sticky and open: %v", err)
	}
	mine := filepath.Join(shared, "mine")
	os.Mkdir(mine, 0o700)
	writeMode(t, p, "outbox = \""+mine+"/outbox\"\n", 0o600)
	if _, err := Load(); err != nil {
		t.Fatalf("an outbox of the user's under a sticky directory: %v", err)
	}
	os.MkdirAll(filepath.Join(mine, "outbox", "new"), 0o700)
	os.Chmod(filepath.Join(mine, "outbox", "new"), 0o777)
	if _, err := Load(); !errors.As(err, &ce) || ce.Key != "outbox" || ce.Line != 1 || !strings.Contains(err.Error(), "outbox/new is world-writable") {
		t.Errorf("outbox/new open to all: %v", err)
	}
	// No file: the default place is open to others.
	os.Remove(p)
	t.Setenv("HOMEPOST_CONFIG", "")
	t.Setenv("XDG_STATE_HOME", shared)
	os.Chmod(shared, 0o777)
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), shared) {
		t.Errorf("default place open to all: %v", err)
	}
	if c, err := LoadQueue(); c != nil || err == nil || !strings.Contains(err.Error(), "nothing can be queued") {
		t.Errorf("LoadQueue with the default place open to all: %v %v", c, err)
	}
	id := NewIdentity("alice", home, "", os.Getuid())
	_ = id
	if _, err := settings.Read(); !errors.Is(err, settings.ErrNotSimple) {
		t.Errorf("settings.Read with the default place open to all: %v", err)
	}
}

// A state_dir that config.toml names, whose outbox others could change,
// is blamed on the state_dir line: it is no default place, and the
// words about $XDG_STATE_HOME belong to the default place alone.
func TestUnsafeNamedStateDirIsNoDefaultPlace(t *testing.T) {
	home, p := queueEnv(t)
	shared := filepath.Join(home, "shk")
	os.MkdirAll(filepath.Join(shared, "outbox", "new"), 0o700)
	os.Chmod(filepath.Join(shared, "outbox", "new"), 0o777)
	writeMode(t, p, "# mine\nstate_dir = \""+shared+"\"\n", 0o600)
	_, err := Load()
	var ce *Error
	if !errors.As(err, &ce) || ce.Line != 2 || strings.Contains(err.Error(), "default place") {
		t.Errorf("Load: %v", err)
	}
	id := NewIdentity("alice", home, "", os.Getuid())
	_, err = Fallback(p, id)
	if !errors.As(err, &ce) || ce.Line != 2 || ce.Key != "state_dir" || strings.Contains(err.Error(), "default place") || !strings.Contains(err.Error(), "world-writable") {
		t.Errorf("Fallback: %v", err)
	}
}
