package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A record is applied over a rewrite that another program
// (s-nail, mutt) made after the crash, when that rewrite left the
// mbox's first Off bytes as they were: what that program saved into the
// mbox meanwhile, and kept, is written over. Here mail's rewrite (a
// Status for each message read) is stopped once its new bytes are
// written, before the record is removed; s-nail then saves a message
// into the mbox (an append) and the user deletes messages 3 and 4 in
// s-nail, which rewrites the mbox. The next Lock must not lose the
// message s-nail saved.
func TestStaleRecordNotAppliedOverAnotherRewrite(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	dir := t.TempDir()
	path := filepath.Join(dir, "mbox")
	appendN(t, path, 1, 5)
	f, msgs, size := openAll(t, path)
	stopAt = func(s string) error {
		if s == "written" {
			return errors.New("stopped after " + s)
		}
		return nil
	}
	_, err := Mbox(path).Rewrite(f, size, slices.Values(keepAll("RO")(msgs)))
	stopAt = func(string) error { return nil }
	if err == nil || !strings.Contains(err.Error(), "next opened") {
		t.Fatalf("Rewrite: %v", err)
	}
	// s-nail saves a message (an append, under its own locks).
	saved := "From me@x Thu Dec  3 18:48:00 2026\nSubject: saved by s-nail\n\nkeep me\n\n"
	a, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	a.WriteString(saved)
	a.Close()
	// The user deletes messages 3 and 4 in s-nail: it writes the mbox
	// again, in place, less those two.
	b, _ := os.ReadFile(path)
	i3 := strings.Index(string(b), "From u3@")
	i5 := strings.Index(string(b), "From u5@")
	if i3 < 0 || i5 < 0 {
		t.Fatalf("mbox:\n%s", b)
	}
	other := string(b[:i3]) + string(b[i5:])
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString(other)
	w.Close()

	l, err := Mbox(path).Lock()
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	got, _ := os.ReadFile(path)
	if !strings.Contains(string(got), "saved by s-nail") {
		t.Errorf("the message s-nail saved after the crash is gone: the record was applied over s-nail's rewrite; the mbox holds:\n%s", got)
	}
}
