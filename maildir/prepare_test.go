package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// RewriteWith runs its prepare step under the mbox's locks, after the
// check that the mbox is the one read, and before anything is written:
// an error from it leaves the mbox as it was; a mailbox changed by
// another program does not run it at all.
func TestRewriteWithPrepare(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	appendN(t, path, 1, 3)
	before, _ := os.ReadFile(path)
	f, msgs, size := openAll(t, path)
	keep := []Kept{{Off: msgs[1].Off, Len: msgs[1].Len, Status: "RO"}}

	// Under the locks: another open file description cannot take the
	// flock, and the dotlock is there.
	locked := func() bool {
		g, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		_, dot := os.Stat(path + ".lock")
		return unix.Flock(int(g.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil && dot == nil
	}
	refused := errors.New("no room in ~/mbox")
	ran := false
	_, err := Mbox(path).RewriteWith(f, size, slices.Values(keep), func() error {
		ran = true
		if !locked() {
			t.Error("prepare ran without the mbox's locks")
		}
		return refused
	})
	if !ran || !errors.Is(err, refused) {
		t.Fatalf("RewriteWith: ran %v, %v; want prepare's error", ran, err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatalf("a refused prepare changed the mbox:\n%s", after)
	}

	ran = false
	if _, err := Mbox(path).RewriteWith(f, size, slices.Values(keep), func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("RewriteWith: ran %v, %v", ran, err)
	}
	if _, got, _ := openAll(t, path); len(got) != 1 {
		t.Fatalf("%d messages after the rewrite, want 1", len(got))
	}

	// The mbox was rewritten: prepare is not run, nothing is written.
	ran = false
	if _, err := Mbox(path).RewriteWith(f, size, slices.Values(keep), func() error { ran = true; return nil }); !errors.Is(err, ErrChanged) || ran {
		t.Errorf("RewriteWith on a changed mbox: ran %v, %v", ran, err)
	}
}
