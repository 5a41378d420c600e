package settings

import (
	"os"
	"path/filepath"
	"testing"
)

// A symbolic link to nothing, on the file or above it, is told apart
// from a file that is simply not there.
func TestDanglingLink(t *testing.T) {
	d := t.TempDir()
	os.Symlink(filepath.Join(d, "gone"), filepath.Join(d, "file.toml"))
	os.Symlink("moved", filepath.Join(d, "dir")) // relative, as ln -s writes it
	os.Mkdir(filepath.Join(d, "real"), 0o700)
	os.Symlink(filepath.Join(d, "real"), filepath.Join(d, "good"))
	for _, c := range []struct{ path, link, target string }{
		{filepath.Join(d, "file.toml"), filepath.Join(d, "file.toml"), filepath.Join(d, "gone")},
		{filepath.Join(d, "dir", "homepost", "config.toml"), filepath.Join(d, "dir"), filepath.Join(d, "moved")},
		{filepath.Join(d, "good", "config.toml"), "", ""},
		{filepath.Join(d, "none", "config.toml"), "", ""},
		{filepath.Join(d, "real"), "", ""},
	} {
		link, target := DanglingLink(c.path)
		if link != c.link || target != c.target {
			t.Errorf("%s: %q -> %q, want %q -> %q", c.path, link, target, c.link, c.target)
		}
	}
}

// ReadFile leaves a configuration behind a dangling link to package
// config, which says so, rather than take it for no file.
func TestReadDanglingLink(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "config.toml")
	os.Symlink(filepath.Join(d, "gone"), p)
	if _, err := ReadFile(p, NewIdentity("u", d, "", 1000)); err != ErrNotSimple {
		t.Errorf("ReadFile: %v, want ErrNotSimple", err)
	}
}
