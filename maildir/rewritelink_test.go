package maildir

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// An mbox read through a symbolic link (an archive on another disk, a
// dotfiles link) is rewritten where the link points, and the link stays:
// the temporary file was renamed over the link, which became a file of
// its own while the real mbox kept the old contents.
func TestRewriteThroughLink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "data", "real.mbox")
	os.Mkdir(filepath.Dir(real), 0o700)
	appendN(t, real, 1, 3)
	link := filepath.Join(dir, "linked.mbox")
	if err := os.Symlink("data/real.mbox", link); err != nil {
		t.Fatal(err)
	}
	f, msgs, size := openAll(t, link)
	keep := []Kept{{Off: msgs[1].Off, Len: msgs[1].Len, Status: "RO"}}
	if _, err := Mbox(link).Rewrite(f, size, slices.Values(keep)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link is no longer one: %v %v", fi.Mode(), err)
	}
	_, got, _ := openAll(t, real)
	if len(got) != 1 {
		t.Errorf("the real mbox holds %d messages, want 1", len(got))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*", ".*homepost*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
