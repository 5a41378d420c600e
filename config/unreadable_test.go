package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A config.toml that is a symbolic link to nothing (a dotfiles checkout
// moved, a mount not there) is an error naming the missing target, not
// "no file: the defaults": what it says is unknown, and the defaults
// would deliver elsewhere than it says.
func TestDanglingLinkIsAnError(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("HOMEPOST_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	dir := filepath.Join(home, ".config", "homepost")
	os.MkdirAll(dir, 0o700)
	p := filepath.Join(dir, "config.toml")
	missing := filepath.Join(home, "dotfiles", "homepost.toml")
	if err := os.Symlink(missing, p); err != nil {
		t.Fatal(err)
	}
	c, err := Load()
	if err == nil || errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Load: %v %v, want an error naming %s and %s", c, err, p, missing)
	}
	// The queue still works, in the default outbox, and says that the
	// file does not tell where the outbox is.
	c, err = LoadQueue()
	var uo *UnknownOutbox
	if c == nil || !errors.As(err, &uo) || c.Outbox != filepath.Join(home, ".local/state/homepost/outbox") || uo.Outbox != c.Outbox {
		t.Fatalf("LoadQueue: %v %v", c, err)
	}
	// A directory above the file that is a link to nothing is the same.
	os.Remove(p)
	os.Remove(dir)
	if err := os.Symlink(filepath.Join(home, "dotfiles", "homepost"), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("a linked directory to nothing: %v", err)
	}
}

// A file that cannot be read (mode 000, a directory, root's after sudo
// cp) does not keep the shims from queuing: LoadQueue gives the
// default outbox and says why the file's own is unknown. The same for
// a file whose outbox or state_dir line cannot be read, and for one
// whose outbox is in the store.
func TestUnreadableFileQueuesInTheDefaultOutbox(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	p := filepath.Join(home, "hp.toml")
	t.Setenv("HOMEPOST_CONFIG", p)
	def := filepath.Join(home, ".local/state/homepost/outbox")
	check := func(name, why string) {
		t.Helper()
		c, err := LoadQueue()
		var uo *UnknownOutbox
		if c == nil || !errors.As(err, &uo) {
			t.Fatalf("%s: %v %v", name, c, err)
		}
		if c.Outbox != def || c.StateDir != filepath.Dir(def) || uo.Outbox != def || c.File != p {
			t.Errorf("%s: outbox %s state %s file %s", name, c.Outbox, c.StateDir, c.File)
		}
		if !strings.Contains(uo.Why.Error(), why) {
			t.Errorf("%s: why %q, want %q", name, uo.Why, why)
		}
	}
	if os.Getuid() != 0 {
		os.WriteFile(p, []byte("outbox = \"~/q\"\n"), 0o600)
		os.Chmod(p, 0)
		check("mode 000", "permission denied")
		os.Remove(p)
	}
	os.Mkdir(p, 0o700)
	check("a directory", "directory")
	os.Remove(p)
	os.WriteFile(p, []byte("outbox = ~/q\n"), 0o600)
	check("outbox line", p+":1: outbox")
	os.WriteFile(p, []byte("state_dir = \"rel\"\n"), 0o600)
	check("relative state_dir", p+":1: state_dir")
	os.WriteFile(p, []byte("outbox = \"~/Maildir/q\"\n"), 0o600)
	check("outbox in the store", p+":1: outbox")
}

// A byte order mark at the start of the file is no part of its first
// line: the line is read as written, by the loader and by the line
// reader that finds a broken file's outbox (which missed it, and
// queued into the default outbox).
func TestByteOrderMark(t *testing.T) {
	id := testID(t)
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte("\ufeffoutbox = \"/var/tmp/q\"\nstroe = 1\n"), 0o600)
	_, err := LoadFile(p, id)
	if err == nil || !strings.Contains(err.Error(), p+":2: stroe: unknown key") {
		t.Errorf("LoadFile: %v", err)
	}
	c, err := Fallback(p, id)
	if err != nil || c.Outbox != "/var/tmp/q" {
		t.Errorf("Fallback: %v %v", c, err)
	}
	os.WriteFile(p, []byte("\ufeffstroe = 1\n"), 0o600)
	if _, err := LoadFile(p, id); err == nil || !strings.Contains(err.Error(), p+":1: stroe: unknown key") {
		t.Errorf("an error on the first line: %v", err)
	}
}

// A character that the TOML parser reports by its Go quoting (an
// invisible space, a typographic quote, a backslash) is named, so that
// the user can find it.
func TestOddCharacterNamed(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"store\u00a0= \"~/Mail/\"\n", ":1: expected '.' or '=', but got U+00A0 (a no-break space) instead"},
		{"a = 1\n\u200bstore = 1\n", ":2: expected '.' or '=', but got U+200B (a zero-width space) instead"},
		{"store = \u201c~/Mail/\u201d\n", ":1: store: expected value but found U+201C (a typographic quote: write \" or ') instead"},
		{`\xef\xbb\xbfstore = 1`, `:1: expected '.' or '=', but got '\' instead`},
		{"hostname = \"a\xffb\"\n", ":1: hostname: byte 0xFF: not UTF-8 (save the file as UTF-8)"},
		{"\xff\xfes\x00=\x001\x00\n\x00", ": the file is UTF-16 (it starts with the bytes FF FE): save it as UTF-8"},
	} {
		p, err := load(t, c.body)
		if err == nil || !strings.Contains(err.Error(), p+c.want) {
			t.Errorf("%q: %v, want %s", c.body, err, c.want)
		}
	}
}
