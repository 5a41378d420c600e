package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A record kept in the state directory is looked for under
// $XDG_STATE_HOME of the process that locks the mbox. mail run where it
// is set (a shell whose profile sets it) and the agent, cron or another
// login where it is not look in two places: the one that does not see
// the record reads, delivers to and rewrites the torn mbox, and the
// record applied later writes over what was delivered meanwhile (with
// the real binary). Here a rewrite of a spool mbox
// is stopped with XDG_STATE_HOME set, and the next Lock runs without it.
func TestStateRecordFoundWithoutXDGStateHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	dir := t.TempDir()
	path := filepath.Join(dir, "mbox")
	appendLong(t, path, 1, 3, 20)
	want := rewriteCopy(t, path, dropFirst)
	f, msgs, size := openAll(t, path)
	refuseNextTo(t)
	stopAt = func(s string) error {
		if s == "sized" {
			return errors.New("stopped after " + s)
		}
		return nil
	}
	_, err := Mbox(path).Rewrite(f, size, slices.Values(dropFirst(msgs)))
	stopAt = func(string) error { return nil }
	if err == nil || !strings.Contains(err.Error(), "next opened") {
		t.Fatalf("Rewrite: %v", err)
	}
	dev, ino, err := PathID(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := recordInState(dev, ino)
	if _, err := os.Stat(rec); err != nil {
		t.Fatal(err)
	}
	tear(t, path, rec)
	os.Unsetenv("XDG_STATE_HOME") // the agent, cron, another login
	l, err := Mbox(path).Lock()
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Errorf("a Lock without XDG_STATE_HOME did not finish the rewrite recorded in %s: the mbox is torn (%d bytes, want %d)", rec, len(got), len(want))
	}
}

// A record that earlier versions made under $XDG_STATE_HOME is still
// found there by a Lock run with it set.
func TestStateRecordFoundUnderXDGStateHome(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	xdg := t.TempDir()
	t.Setenv("XDG_STATE_HOME", xdg)
	path := filepath.Join(t.TempDir(), "mbox")
	appendLong(t, path, 1, 3, 20)
	want := rewriteCopy(t, path, dropFirst)
	f, msgs, size := openAll(t, path)
	refuseNextTo(t)
	stopAt = func(s string) error {
		if s == "sized" {
			return errors.New("stopped after " + s)
		}
		return nil
	}
	_, err := Mbox(path).Rewrite(f, size, slices.Values(dropFirst(msgs)))
	stopAt = func(string) error { return nil }
	if err == nil || !strings.Contains(err.Error(), "next opened") {
		t.Fatalf("Rewrite: %v", err)
	}
	dev, ino, err := PathID(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := recordInState(dev, ino)
	tear(t, path, rec)
	old := filepath.Join(xdg, "homepost", "mbox-rewrite", filepath.Base(rec))
	if err := os.MkdirAll(filepath.Dir(old), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(rec, old); err != nil {
		t.Fatal(err)
	}
	l, err := Mbox(path).Lock()
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Errorf("the record under $XDG_STATE_HOME was not applied: the mbox is torn (%d bytes, want %d)", len(got), len(want))
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("record %s left: %v", old, err)
	}
}
