package maildir

import (
	"os"
	"path/filepath"
	"testing"
)

// A rewrite of an earlier version renamed a new file over the mbox and,
// killed, left its partial copy (".NAME.homepostDIGITS") beside it for
// ever; the next Lock removes it, and nothing else.
func TestLockRemovesOldRewriteLeftover(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "box")
	appendN(t, path, 1, 1)
	cleaned.Delete(path + ".lock")
	left := filepath.Join(dir, ".box.homepost3571934103")
	keep := []string{filepath.Join(dir, ".box.homepost-rewrite.1.unapplied"), filepath.Join(dir, ".other.homepost123"), filepath.Join(dir, ".box.homepostx1")}
	for _, n := range append([]string{left}, keep...) {
		if err := os.WriteFile(n, []byte("From x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Mbox(path).Lock()
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("%s is still there: %v", left, err)
	}
	for _, n := range keep {
		if _, err := os.Stat(n); err != nil {
			t.Errorf("%s was removed: %v", n, err)
		}
	}
}
