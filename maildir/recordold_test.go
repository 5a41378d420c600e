package maildir

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// appendLong appends messages first..last, each with a body of lines
// lines, so that the new contents of a rewrite span many of the units a
// power loss writes or leaves whole.
func appendLong(t *testing.T, path string, first, last, lines int) {
	t.Helper()
	for i := first; i <= last; i++ {
		h := fmt.Sprintf("From: u%d@example.org\nSubject: Subject %d\n\n", i, i)
		var body strings.Builder
		for j := range lines {
			fmt.Fprintf(&body, "line %04d of message %d, long enough to fill a sector or two.\n", j, i)
		}
		if err := Mbox(path).Append(fmt.Sprintf("u%d@example.org", i), time.Unix(1609577400, 0), []byte(h), strings.NewReader(body.String())); err != nil {
			t.Fatal(err)
		}
	}
}

// stopRewrite runs a rewrite of the mbox at path keeping keep(msgs),
// stopped after apply's step, and returns the record's name and
// header.
func stopRewrite(t *testing.T, path, state string, keep func([]MboxMessage) []Kept, step string) (string, *record) {
	t.Helper()
	f, msgs, size := openAll(t, path)
	stopAt = func(s string) error {
		if s == step {
			return errors.New("stopped after " + s)
		}
		return nil
	}
	_, err := Mbox(path).Rewrite(f, size, slices.Values(keep(msgs)))
	stopAt = func(string) error { return nil }
	if err == nil || !strings.Contains(err.Error(), "next opened") {
		t.Fatalf("Rewrite stopped after %s: %v", step, err)
	}
	recs := records(filepath.Dir(path), state)
	if len(recs) != 1 {
		t.Fatalf("records: %v", recs)
	}
	b, err := os.ReadFile(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	r, err := decodeRecord(b[:recordHeader])
	if err != nil {
		t.Fatal(err)
	}
	return recs[0], r
}

// lockOnce locks and unlocks the mbox: the next program's Lock, which
// finishes or sets aside a record.
func lockOnce(t *testing.T, path string) {
	t.Helper()
	l, err := Mbox(path).Lock()
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
}

// wantSetAside checks that the mbox holds other, as another program
// left it, and that the record was set aside, not applied.
func wantSetAside(t *testing.T, path, state, other string) {
	t.Helper()
	got, _ := os.ReadFile(path)
	if string(got) != other {
		t.Errorf("the record was applied over another program's rewrite: the mbox holds %d bytes, not the %d that program left", len(got), len(other))
	}
	dir := filepath.Dir(path)
	aside, _ := filepath.Glob(filepath.Join(dir, ".*.unapplied"))
	inState, _ := filepath.Glob(filepath.Join(state, "*", "*", "*.unapplied"))
	if len(aside)+len(inState) != 1 {
		t.Errorf("set aside: %v %v; records now: %v", aside, inState, records(dir, state))
	}
	// As homepost check lists it.
	if as := SetAside([]string{dir}, []string{path}); len(as) != 1 || as[0].Mbox != path || as[0].Len <= 0 || !strings.Contains(as[0].Advice(), "then remove "+as[0].Path) {
		t.Errorf("SetAside: %+v", as)
	}
}

// writeFile writes s over the file at path in place (same inode), as a
// mail reader rewrites an mbox.
func writeFile(t *testing.T, path, s string) {
	t.Helper()
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(s); err != nil {
		t.Fatal(err)
	}
	w.Close()
}

// Another program's rewrite after the crash that keeps the first Off
// bytes and leaves the file at least as long as before is told from
// what the crash left by the bytes the record overwrites: each unit
// must be the one the rewrite found there or its new one. Here mail's
// rewrite (a Status field for each message read: the file grows) is
// stopped once its new bytes are written; then another reader changes
// the mbox without changing its size: it edits a message in place, or
// it deletes message 2 and saves one as long at the end. Neither may be
// written over.
func TestRecordNotAppliedOverRewriteKeepingSize(t *testing.T) {
	for _, how := range []string{"edited", "deleted and saved"} {
		t.Run(how, func(t *testing.T) {
			state := t.TempDir()
			t.Setenv("XDG_STATE_HOME", state)
			t.Setenv("HOME", t.TempDir())
			path := filepath.Join(t.TempDir(), "mbox")
			appendLong(t, path, 1, 4, 20)
			stopRewrite(t, path, state, keepAll("RO"), "written")
			b, _ := os.ReadFile(path)
			var other string
			switch how {
			case "edited":
				other = strings.Replace(string(b), "line 0005 of message 3", "LINE 0005 OF MESSAGE 3", 1)
			default:
				i2 := strings.Index(string(b), "From u2@")
				i3 := strings.Index(string(b), "From u3@")
				msg2 := string(b[i2:i3])
				saved := strings.Replace(msg2, "u2@", "u9@", -1)
				other = string(b[:i2]) + string(b[i3:]) + saved
			}
			if other == string(b) {
				t.Fatal("nothing changed")
			}
			writeFile(t, path, other)
			lockOnce(t, path)
			wantSetAside(t, path, state, other)
		})
	}
}

// The same for a shrinking rewrite (the first message deleted) stopped
// before the file is cut: another reader changes bytes between the
// first changed one and the new end, and leaves the old end as it was.
func TestRecordNotAppliedOverRewriteBeforeCut(t *testing.T) {
	for _, step := range []string{"sized", "written"} {
		t.Run(step, func(t *testing.T) {
			state := t.TempDir()
			t.Setenv("XDG_STATE_HOME", state)
			t.Setenv("HOME", t.TempDir())
			path := filepath.Join(t.TempDir(), "mbox")
			appendLong(t, path, 1, 4, 20)
			_, r := stopRewrite(t, path, state, dropFirst, step)
			b, _ := os.ReadFile(path)
			if int64(len(b)) != r.Old {
				t.Fatalf("the mbox is %d bytes, the record's old size %d", len(b), r.Old)
			}
			i := strings.Index(string(b[r.Off:r.New]), "line 0007 of message 3")
			if i < 0 {
				t.Fatalf("no line 7 of message 3 before the new end:\n%s", b[r.Off:r.New])
			}
			other := []byte(string(b))
			copy(other[r.Off+int64(i):], "LINE 0007 OF MESSAGE 3")
			writeFile(t, path, string(other))
			lockOnce(t, path)
			wantSetAside(t, path, state, string(other))
		})
	}
}

// A file emptied since the crash and refilled with mail at least as
// long as the mbox was (a spool file cut to nothing by another reader,
// then a delivery by another program; or a new file that got the
// inode), whose first bytes happen to be the old ones up to the first
// changed one (the "From " of every mbox, when the first message was
// deleted; here the first message's header up to its Status), is not
// written over: its bytes past them are neither the old nor the new
// ones.
func TestRecordNotAppliedToLongRefill(t *testing.T) {
	for _, keep := range []struct {
		name string
		fn   func([]MboxMessage) []Kept
	}{{"grows", keepAll("RO")}, {"shrinks", dropFirst}} {
		t.Run(keep.name, func(t *testing.T) {
			state := t.TempDir()
			t.Setenv("XDG_STATE_HOME", state)
			t.Setenv("HOME", t.TempDir())
			path := filepath.Join(t.TempDir(), "mbox")
			appendLong(t, path, 1, 4, 10)
			_, r := stopRewrite(t, path, state, keep.fn, "sized")
			// New mail from the same sender, whose first bytes are
			// the old first message's up to the first changed one.
			b, _ := os.ReadFile(path)
			fresh := string(b[:r.Off]) + "\nSubject: new mail\n\n" + strings.Repeat("must stay\n", int(max(r.Old, r.New)/10+100)) + "\n"
			writeFile(t, path, fresh)
			lockOnce(t, path)
			wantSetAside(t, path, state, fresh)
		})
	}
}

// A rewrite that a crash or a power loss stopped in the middle of its
// write is finished, whichever of its units reached the disk: the
// kernel writes the page cache back in pages, a disk writes a page in
// sectors, and a power loss keeps any set of them. Here the rewrite is
// stopped once the file has its new size, and then each unit of 512
// bytes (cut at multiples of 512 of the file) of the new contents is
// written or not, at random, or the new contents up to a page boundary
// (a kill in the middle of a write), with or without mail another
// program appended after the crash.
func TestRewriteFinishedAfterPowerLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, keep := range []struct {
		name string
		fn   func([]MboxMessage) []Kept
	}{{"grows", keepAll("RO")}, {"shrinks", dropFirst}, {"edits", editSecond}} {
		for _, how := range []string{"units", "page", "none", "all"} {
			for _, appended := range []string{"", lateMail} {
				name := fmt.Sprintf("%s/%s/appended=%v", keep.name, how, appended != "")
				t.Run(name, func(t *testing.T) {
					state := t.TempDir()
					t.Setenv("XDG_STATE_HOME", state)
					t.Setenv("HOME", t.TempDir())
					path := filepath.Join(t.TempDir(), "mbox")
					appendLong(t, path, 1, 5, 40)
					want := rewriteCopy(t, path, keep.fn)
					rec, r := stopRewrite(t, path, state, keep.fn, "sized")
					rb, err := os.ReadFile(rec)
					if err != nil {
						t.Fatal(err)
					}
					data := rb[recordHeader : recordHeader+r.New-r.Off]
					f, err := os.OpenFile(path, os.O_WRONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
					written := 0
					for p := r.Off; p < r.New; {
						e := min(r.New, (p/512+1)*512)
						var w bool
						switch how {
						case "units":
							w = rng.IntN(2) == 0
						case "page":
							w = e <= (r.Off+(r.New-r.Off)/2)/4096*4096
						case "all":
							w = true
						}
						if w {
							written++
							if _, err := f.WriteAt(data[p-r.Off:e-r.Off], p); err != nil {
								t.Fatal(err)
							}
						}
						p = e
					}
					f.Close()
					t.Logf("off %d new %d old %d: %d units written", r.Off, r.New, r.Old, written)
					if appended != "" {
						a, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
						if err != nil {
							t.Fatal(err)
						}
						a.WriteString(appended)
						a.Close()
					}
					lockOnce(t, path)
					got, _ := os.ReadFile(path)
					if string(got) != want+appended {
						t.Errorf("after the next Lock the mbox holds %d bytes, want %d; records now: %v", len(got), len(want+appended), records(filepath.Dir(path), state))
					}
					if recs := records(filepath.Dir(path), state); len(recs) != 0 {
						t.Errorf("records left: %v", recs)
					}
				})
			}
		}
	}
}

// editSecond keeps every message, the second with a new text of the
// same length as its old one: a rewrite that neither grows nor
// shrinks.
func editSecond(msgs []MboxMessage) []Kept {
	k := keepAll("O")(msgs)
	k[1].Text = []byte(strings.Repeat("x", 40) + "\n")
	k[1].FromLine = "u2@example.org Sat Jan  2 08:50:00 2021"
	return k
}

// A record written by an earlier version (format 1: no sums of the old
// bytes) is still applied as that version applied it: a crash before
// an upgrade is finished, not left torn.
func TestRecordOfEarlierVersionApplied(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Setenv("HOME", t.TempDir())
	path := filepath.Join(t.TempDir(), "mbox")
	appendLong(t, path, 1, 3, 20)
	want := rewriteCopy(t, path, keepAll("RO"))
	rec, r := stopRewrite(t, path, state, keepAll("RO"), "sized")
	rb, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	v1 := *r
	v1.V1 = true
	out := append(v1.encode(), rb[recordHeader:recordHeader+r.New-r.Off]...)
	if err := os.WriteFile(rec, out, 0o600); err != nil {
		t.Fatal(err)
	}
	tear(t, path, rec)
	lockOnce(t, path)
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Errorf("a record of format 1 was not applied: the mbox holds %d bytes, want %d; records: %v", len(got), len(want), records(filepath.Dir(path), state))
	}
}

// A record made again at recovery (mail appended after the crash must
// follow the new contents) has the table of the file as it is then: a
// crash in the middle of that recovery, torn at any unit, is finished
// by the next Lock in turn.
func TestRecoveryStoppedInTurnFinished(t *testing.T) {
	for _, keep := range []struct {
		name string
		fn   func([]MboxMessage) []Kept
		step string
	}{{"grows", keepAll("RO"), "recorded"}, {"shrinks", dropFirst, "written"}} {
		t.Run(keep.name, func(t *testing.T) {
			state := t.TempDir()
			t.Setenv("XDG_STATE_HOME", state)
			t.Setenv("HOME", t.TempDir())
			path := filepath.Join(t.TempDir(), "mbox")
			appendLong(t, path, 1, 4, 30)
			want := rewriteCopy(t, path, keep.fn)
			stopRewrite(t, path, state, keep.fn, keep.step)
			a, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			a.WriteString(lateMail)
			a.Close()
			// The recovery makes the record again, with the appended
			// mail, and is stopped once the file has its new size.
			stopAt = func(s string) error {
				if s == "sized" {
					return errors.New("stopped after " + s)
				}
				return nil
			}
			l, err := Mbox(path).Lock()
			stopAt = func(string) error { return nil }
			if err == nil {
				l.Unlock()
				t.Fatal("the recovery was not stopped")
			}
			recs := records(filepath.Dir(path), state)
			if len(recs) != 1 {
				t.Fatalf("records: %v", recs)
			}
			tear(t, path, recs[0])
			lockOnce(t, path)
			if got, _ := os.ReadFile(path); string(got) != want+lateMail {
				t.Errorf("after the next Lock the mbox holds %d bytes, want %d; records now: %v", len(got), len(want+lateMail), records(filepath.Dir(path), state))
			}
			if recs := records(filepath.Dir(path), state); len(recs) != 0 {
				t.Errorf("records left: %v", recs)
			}
		})
	}
}
