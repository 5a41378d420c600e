package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// stopRewriteAfter rewrites the mbox at path (its first message
// dropped) and stops after apply's step, as a crash there does, leaving
// the record complete and not applied. It returns the mbox's size
// before.
func stopRewriteAfter(t *testing.T, path, step string) int64 {
	t.Helper()
	f, msgs, size := openAll(t, path)
	defer f.Close()
	stopAt = func(s string) error {
		if s == step {
			return errors.New("stopped after " + s)
		}
		return nil
	}
	defer func() { stopAt = func(string) error { return nil } }()
	if _, err := Mbox(path).Rewrite(f, size, slices.Values(dropFirst(msgs))); err == nil || !strings.Contains(err.Error(), "next opened") {
		t.Fatalf("Rewrite of %s: %v", path, err)
	}
	return size.Size
}

// snapshot returns the names and contents of the files under dirs.
func snapshot(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() {
				b, _ := os.ReadFile(p)
				m[p] = string(b)
			}
			return nil
		})
	}
	return m
}

// PendingRecords lists the complete records of stopped rewrites beside
// the mboxes of the directories given and in the state directories
// (~/.local/state and the $XDG_STATE_HOME where earlier versions kept
// them), with what their headers say, each once; it skips records not
// complete, records set aside, and files a Lock would not take for a
// record; and it changes nothing.
func TestPendingRecords(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	xdg := t.TempDir()
	t.Setenv("XDG_STATE_HOME", xdg)
	dir := t.TempDir()

	// A rewrite stopped beside its mbox.
	beside := filepath.Join(dir, "beside")
	appendLong(t, beside, 1, 3, 20)
	besideOld := stopRewriteAfter(t, beside, "sized")
	besideDev, besideIno, err := PathID(beside)
	if err != nil {
		t.Fatal(err)
	}

	// And one that will be cut short (not listed).
	cut := filepath.Join(dir, "cut")
	appendLong(t, cut, 1, 3, 20)
	stopRewriteAfter(t, cut, "sized")

	// One kept in the state directory (the mbox's directory takes no
	// new file), and one an earlier version kept under $XDG_STATE_HOME.
	spool := filepath.Join(t.TempDir(), "spool")
	appendLong(t, spool, 1, 3, 20)
	old := filepath.Join(t.TempDir(), "old")
	appendLong(t, old, 1, 3, 20)
	refuseNextTo(t)
	stopRewriteAfter(t, spool, "sized")
	stopRewriteAfter(t, old, "recorded")
	spoolDev, spoolIno, err := PathID(spool)
	if err != nil {
		t.Fatal(err)
	}
	oldDev, oldIno, err := PathID(old)
	if err != nil {
		t.Fatal(err)
	}
	spoolRec := recordInState(spoolDev, spoolIno)
	if filepath.Dir(spoolRec) != filepath.Join(home, ".local", "state", "homepost", "mbox-rewrite") {
		t.Fatalf("record kept in %s", spoolRec)
	}
	oldRec := filepath.Join(xdg, "homepost", "mbox-rewrite", filepath.Base(recordInState(oldDev, oldIno)))
	if err := os.MkdirAll(filepath.Dir(oldRec), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(recordInState(oldDev, oldIno), oldRec); err != nil {
		t.Fatal(err)
	}

	// Not listed: a record a crash stopped before its header was
	// written, one set aside, one others may read, one cut short.
	notLocked := []string{
		filepath.Join(dir, ".incomplete.homepost-rewrite"),
		recordNextTo(beside) + ".1.20260101T000000.unapplied",
		filepath.Join(dir, ".readable.homepost-rewrite"),
		filepath.Join(filepath.Dir(spoolRec), "1-2.new"),
	}
	whole, err := os.ReadFile(recordNextTo(beside))
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range notLocked {
		b := append(make([]byte, recordHeader), "From x\n\ngarbage"...)
		if i > 0 {
			b = whole
		}
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(notLocked[2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(recordNextTo(cut), int64(len(whole))-1); err != nil {
		t.Fatal(err)
	}

	before := snapshot(t, dir, home, xdg, filepath.Dir(spool), filepath.Dir(old))
	got := PendingRecords([]string{dir, dir})
	if after := snapshot(t, dir, home, xdg, filepath.Dir(spool), filepath.Dir(old)); len(after) != len(before) {
		t.Errorf("PendingRecords changed files: %d before, %d after", len(before), len(after))
	} else {
		for p, b := range before {
			if after[p] != b {
				t.Errorf("PendingRecords changed %s", p)
			}
		}
	}

	if len(got) != 3 {
		t.Fatalf("PendingRecords: %d records, want 3: %+v", len(got), got)
	}
	b := got[0]
	if b.Path != recordNextTo(beside) || b.Mbox != beside || b.Dev != besideDev || b.Ino != besideIno {
		t.Errorf("record beside the mbox: %+v, want %s for %s (%d-%d)", b, recordNextTo(beside), beside, besideDev, besideIno)
	}
	if r, err := decodeRecord(whole[:recordHeader]); err != nil || b.Off != r.Off || b.New != r.New || b.Old != besideOld || r.Old != besideOld || b.New >= b.Old {
		t.Errorf("record beside the mbox: off %d new %d old %d, want its header's (%+v, %v), a rewrite dropping the first message of %d bytes", b.Off, b.New, b.Old, r, err, besideOld)
	}
	if hb, _ := os.ReadFile(beside); int64(len(hb)) != besideOld {
		t.Errorf("the mbox changed: %d bytes, want %d", len(hb), besideOld)
	}
	if s := got[1]; s.Path != spoolRec || s.Mbox != "" || s.Dev != spoolDev || s.Ino != spoolIno {
		t.Errorf("record in the state directory: %+v, want %s (%d-%d)", s, spoolRec, spoolDev, spoolIno)
	}
	if o := got[2]; o.Path != oldRec || o.Mbox != "" || o.Dev != oldDev || o.Ino != oldIno {
		t.Errorf("record under $XDG_STATE_HOME: %+v, want %s (%d-%d)", o, oldRec, oldDev, oldIno)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "*.lock")); len(matches) != 0 {
		t.Errorf("PendingRecords left locks: %v", matches)
	}
}
