package maildir

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// crashCase is a rewrite of a mailbox of three messages that a crash
// stops after one of apply's steps; the next Lock must finish it.
type crashCase struct {
	name string
	// keep picks the messages kept and their Status.
	keep func(msgs []MboxMessage) []Kept
	step string // the step after which the rewrite stops
	// tear writes the first half of the new contents only (the crash
	// fell in the middle of the write).
	tear bool
	// appended is mail another program appends (O_APPEND, no dotlock,
	// as s-nail's save) after the crash, before the next Lock.
	appended string
	// spool: the mbox's directory takes no new file.
	spool bool
	// shared: others may write to the mbox's directory (1777): the
	// record must not be kept there.
	shared bool
}

func keepAll(status string) func([]MboxMessage) []Kept {
	return func(msgs []MboxMessage) []Kept {
		var k []Kept
		for _, m := range msgs {
			k = append(k, Kept{Off: m.Off, Len: m.Len, Status: status})
		}
		return k
	}
}

func dropFirst(msgs []MboxMessage) []Kept {
	return keepAll("O")(msgs[1:])
}

const lateMail = "From late@example.org Sat Jan  2 09:00:00 2021\nSubject: late\n\nSaved by another reader.\n\n"

// A rewrite stopped at any step (a crash: the record is complete, the
// mbox torn or not yet cut) is finished by the next program that locks
// the mbox: the mbox is then what the rewrite makes, followed by what
// another program appended after the crash, and the record is gone.
func TestRewriteFinishedAfterCrash(t *testing.T) {
	cases := []crashCase{
		{name: "grows/sized", keep: keepAll("RO"), step: "sized"},
		{name: "grows/torn", keep: keepAll("RO"), step: "sized", tear: true},
		{name: "grows/torn/appended", keep: keepAll("RO"), step: "sized", tear: true, appended: lateMail},
		{name: "grows/written/appended", keep: keepAll("RO"), step: "written", appended: lateMail},
		{name: "grows/recorded/appended", keep: keepAll("RO"), step: "recorded", appended: lateMail},
		{name: "shrinks/torn", keep: dropFirst, step: "sized", tear: true},
		{name: "shrinks/written", keep: dropFirst, step: "written"},
		{name: "shrinks/written/appended", keep: dropFirst, step: "written", appended: lateMail},
		{name: "shrinks/cut", keep: dropFirst, step: "cut"},
		{name: "shrinks/cut/appended", keep: dropFirst, step: "cut", appended: lateMail},
		{name: "spool/grows/torn", keep: keepAll("RO"), step: "sized", tear: true, spool: true},
		{name: "spool/shrinks/written/appended", keep: dropFirst, step: "written", appended: lateMail, spool: true},
		{name: "shared/grows/torn", keep: keepAll("RO"), step: "sized", tear: true, shared: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			state := t.TempDir()
			t.Setenv("XDG_STATE_HOME", state)
			t.Setenv("HOME", t.TempDir())
			dir := t.TempDir()
			path := filepath.Join(dir, "mbox")
			if c.tear {
				appendLong(t, path, 1, 3, 20) // long enough to tear
			} else {
				appendN(t, path, 1, 3)
			}
			// The same rewrite, not stopped, on a copy.
			want := rewriteCopy(t, path, c.keep)

			f, msgs, size := openAll(t, path)
			if c.spool {
				refuseNextTo(t)
			}
			if c.shared {
				os.Chmod(dir, 0o1777)
			}
			stopAt = func(s string) error {
				if s == c.step {
					return errors.New("stopped after " + s)
				}
				return nil
			}
			_, err := Mbox(path).Rewrite(f, size, slices.Values(c.keep(msgs)))
			stopAt = func(string) error { return nil }
			if err == nil || !strings.Contains(err.Error(), "next opened") {
				t.Fatalf("Rewrite stopped after %s: %v", c.step, err)
			}
			recs := records(dir, state)
			if len(recs) != 1 {
				t.Fatalf("records: %v", recs)
			}
			if beside := filepath.Dir(recs[0]) == dir; beside != !(c.spool || c.shared) {
				t.Errorf("record at %s", recs[0])
			}
			if c.tear {
				tear(t, path, recs[0])
			}
			if c.appended != "" {
				a, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				a.WriteString(c.appended)
				a.Close()
			}
			l, err := Mbox(path).Lock()
			if err != nil {
				t.Fatal(err)
			}
			l.Unlock()
			got, _ := os.ReadFile(path)
			if string(got) != want+c.appended {
				t.Errorf("after the next Lock the mbox holds:\n%s\nwant:\n%s", got, want+c.appended)
			}
			if recs := records(dir, state); len(recs) != 0 {
				t.Errorf("records left: %v", recs)
			}
			if _, msgs, _ := openAll(t, path); len(msgs) != len(c.keep(make([]MboxMessage, 3)))+strings.Count(c.appended, "From ") {
				t.Errorf("%d messages", len(msgs))
			}
		})
	}
}

// rewriteCopy makes the rewrite on a copy of the mbox and returns what
// it holds then.
func rewriteCopy(t *testing.T, path string, keep func([]MboxMessage) []Kept) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "copy")
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, msgs, size := openAll(t, cp)
	if _, err := Mbox(cp).Rewrite(f, size, slices.Values(keep(msgs))); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(cp)
	return string(out)
}

// records lists the rewrite records beside the mbox and in the state
// directory.
func records(dir, state string) []string {
	a, _ := filepath.Glob(filepath.Join(dir, ".*homepost-rewrite*"))
	b, _ := filepath.Glob(filepath.Join(state, "homepost", "mbox-rewrite", "*"))
	if dirs := recordDirs(); len(dirs) > 0 && dirs[0] != filepath.Join(state, "homepost", "mbox-rewrite") {
		c, _ := filepath.Glob(filepath.Join(dirs[0], "*"))
		b = append(b, c...)
	}
	return append(a, b...)
}

// tear writes the first half of the record's new contents over the
// mbox, as a write cut short: up to the last multiple of 512 of the
// file in it (a write is stopped at a page boundary, and a power loss
// keeps a disk's sectors whole).
func tear(t *testing.T, path, rec string) {
	t.Helper()
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	r, err := decodeRecord(b[:recordHeader])
	if err != nil {
		t.Fatal(err)
	}
	data := b[recordHeader:]
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	end := (r.Off + int64(len(data))/2) / blockSize * blockSize
	if end <= r.Off {
		t.Fatalf("new contents of %d bytes from %d: too short to tear", len(data), r.Off)
	}
	if _, err := f.WriteAt(data[:end-r.Off], r.Off); err != nil {
		t.Fatal(err)
	}
}

// A record a crash cut off before it was complete (its header not yet
// written) is discarded: the mbox was not touched.
func TestIncompleteRecordDiscarded(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	dir := t.TempDir()
	path := filepath.Join(dir, "mbox")
	appendN(t, path, 1, 2)
	before, _ := os.ReadFile(path)
	rec := recordNextTo(path)
	if err := os.WriteFile(rec, append(make([]byte, recordHeader), "From x\n\ngarbage"...), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Mbox(path).Lock()
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Errorf("the mbox was changed:\n%s", after)
	}
	if _, err := os.Stat(rec); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the incomplete record is still there: %v", err)
	}
}

// A record whose mbox another program rewrote after the crash (its
// first bytes, which the rewrite did not touch, changed) is not
// applied over that program's work, and not thrown away either: it is
// set aside.
func TestRecordOfRewrittenMboxSetAside(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Setenv("HOME", t.TempDir())
	dir := t.TempDir()
	path := filepath.Join(dir, "mbox")
	appendN(t, path, 1, 3)
	f, msgs, size := openAll(t, path)
	stopAt = func(s string) error {
		if s == "sized" {
			return errors.New("stopped")
		}
		return nil
	}
	defer func() { stopAt = func(string) error { return nil } }()
	keep := []Kept{{Off: msgs[0].Off, Len: msgs[0].Len, Status: "O"}, {Off: msgs[1].Off, Len: msgs[1].Len, Status: "RO"}}
	if _, err := Mbox(path).Rewrite(f, size, slices.Values(keep)); err == nil {
		t.Fatal("not stopped")
	}
	stopAt = func(string) error { return nil }
	// Another reader deletes message 1.
	b, _ := os.ReadFile(path)
	other := b[msgs[1].Off:]
	if err := os.WriteFile(path, other, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Mbox(path).Lock()
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if after, _ := os.ReadFile(path); !bytes.Equal(after, other) {
		t.Errorf("the other program's rewrite was overwritten:\n%s", after)
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, ".*.unapplied")); len(aside) != 1 {
		t.Errorf("set aside: %v (records %v)", aside, records(dir, state))
	}
}

// A record header is read from a file a crash may have cut anywhere,
// or filled with anything: decodeRecord returns an error, never
// panics, and accepts only a header whose sum matches.
func FuzzDecodeRecord(f *testing.F) {
	r := record{Off: 10, New: 100, Old: 90, Dev: 1, Ino: 2, Block: blockSize}
	f.Add(r.encode())
	r.V1 = true
	f.Add(r.encode())
	f.Add([]byte(recordMagic + "off 1\nsum 00\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, h []byte) {
		got, err := decodeRecord(h)
		if err == nil && (got.Off < 0 || got.New < got.Off || !got.V1 && (got.Block < blockSize || got.Block&(got.Block-1) != 0)) {
			t.Fatalf("accepted %+v", got)
		}
	})
}

func TestRecordRoundTrip(t *testing.T) {
	r := record{Off: 10, New: 100, Old: 90, Dev: 1, Ino: 2, Block: blockSize}
	r.Prefix[0], r.Tail[1], r.Data[31], r.Table[4] = 1, 2, 3, 4
	got, err := decodeRecord(r.encode())
	if err != nil || *got != r {
		t.Fatalf("decodeRecord: %+v, %v; want %+v", got, err, r)
	}
	h := r.encode()
	h[len(recordMagic)+5] ^= 1 // a digit of off
	if _, err := decodeRecord(h); err == nil {
		t.Error("a header changed after its sum was accepted")
	}
}
