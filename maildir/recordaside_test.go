package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A record set aside (".unapplied": its mbox's beginning was
// rewritten by another program after the crash) holds the only whole
// copy of what the torn mbox lost. A second record set aside for the
// same mbox takes the same name, NAME.INO.unapplied, and the rename
// replaces the first one.
func TestSecondSetAsideKeepsFirst(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Setenv("HOME", t.TempDir())
	dir := t.TempDir()
	path := filepath.Join(dir, "mbox")
	appendN(t, path, 1, 4)
	var aside []string
	for round := range 2 {
		f, msgs, size := openAll(t, path)
		stopAt = func(s string) error {
			if s == "sized" {
				return errors.New("stopped")
			}
			return nil
		}
		keep := []Kept{{Off: msgs[0].Off, Len: msgs[0].Len, Status: "O"}, {Off: msgs[1].Off, Len: msgs[1].Len, Status: "RO"}}
		_, err := Mbox(path).Rewrite(f, size, slices.Values(keep))
		stopAt = func(string) error { return nil }
		if err == nil {
			t.Fatal("not stopped")
		}
		// Another reader deletes the first message.
		b, _ := os.ReadFile(path)
		if err := os.WriteFile(path, b[msgs[1].Off:], 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Mbox(path).Lock()
		if err != nil {
			t.Fatal(err)
		}
		l.Unlock()
		aside, _ = filepath.Glob(filepath.Join(dir, ".*.unapplied"))
		if len(aside) != round+1 {
			t.Fatalf("after set-aside %d: %v", round+1, aside)
		}
	}
}
