package outbox

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// deliverAll claims every message in new/ and removes it, as the agent
// does once every recipient is done.
func deliverAll(t *testing.T, d Dir) {
	t.Helper()
	names, _ := d.Names("new")
	for _, n := range names {
		p, err := d.Claim(n)
		if err != nil {
			t.Fatal(err)
		}
		m, err := OpenLocked(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Remove(); err != nil {
			t.Fatal(err)
		}
	}
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// A removed queue file waits in tmp/ as a spare with its blocks, and the
// next message is written into that very inode: nothing of the old
// message is left in it (a short tail is zeroed, a long one cut off),
// its journal takes records over the zeroed bytes, and nothing is left
// in tmp/.
func TestSpareIsReused(t *testing.T) {
	for _, tc := range []struct {
		what string
		old  int // lines of the old message
	}{
		{"a tail zeroed", 200},
		{"a tail cut off", 8000},
	} {
		t.Run(tc.what, func(t *testing.T) {
			d := Dir(t.TempDir())
			env := &Envelope{Rcpts: []Recipient{{Addr: "root", Parent: -1}, {Addr: "bob", Parent: -1}}}
			queue(t, d, env, "Subject: big\n\n"+strings.Repeat("old secret line\n", tc.old))
			deliverAll(t, d)
			spare := d.Path("tmp", spareName(0))
			st, err := os.Stat(spare)
			if err != nil || st.Size() < int64(tc.old*16) {
				t.Fatalf("the spare lost its bytes: %v %v", st, err)
			}
			ino := inode(t, spare)

			msg := "Subject: small\n\nnew\n"
			id := queue(t, d, env, msg)
			p, err := d.Find(id)
			if err != nil {
				t.Fatal(err)
			}
			if got := inode(t, p); got != ino {
				t.Errorf("the new message has inode %d, not the spare's %d", got, ino)
			}
			if n, _ := d.Names("tmp"); len(n) != 0 {
				t.Errorf("tmp/ holds %v after the spare was taken", n)
			}
			raw, _ := os.ReadFile(p)
			if bytes.Contains(raw, []byte("old secret")) {
				t.Fatalf("the file holds old bytes")
			}
			m, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(m.Body())
			if string(body) != msg || m.Journaled() || m.JournalErr != nil {
				t.Fatalf("body %q, journaled %v, journal error %v", body, m.Journaled(), m.JournalErr)
			}
			// A result written over the zeros reads back, and so does
			// the next.
			for i := range 2 {
				if err := m.Append(StateRecord(i, Sent, 1, time.Now(), time.Time{}, "2.0.0 ok")); err != nil {
					t.Fatal(err)
				}
			}
			m.Close()
			m, err = Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.JournalErr != nil || m.Env.Rcpts[0].Status != Sent || m.Env.Rcpts[1].Status != Sent {
				t.Errorf("after two results: %v %v", m.JournalErr, m.Env.Rcpts)
			}
		})
	}
}

// A spare that holds any old bytes (a crash in the middle of a refill)
// is written over: none of them is read as the new message or its
// journal.
func TestFullSpareIsOverwritten(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	// What looks like a queue file with results, longer than the new
	// message: its records must not become the new message's.
	old := "HOMEPOST 1\n" + strings.Repeat("s 0 sent 1 1 0 2.0.0%20ok\n", 400)
	os.WriteFile(d.Path("tmp", spareName(0)), []byte(old), 0o600)
	id := queue(t, d, &Envelope{Rcpts: []Recipient{{Addr: "root", Parent: -1}}}, "Subject: s\n\nb\n")
	p, _ := d.Find(id)
	raw, _ := os.ReadFile(p)
	if bytes.Contains(raw, []byte("sent")) {
		t.Fatalf("old bytes in the new queue file:\n%q", raw)
	}
	m, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Env.Rcpts[0].Status.Done() || m.Journaled() {
		t.Errorf("the new message took old results: %v", m.Env.Rcpts)
	}
}

// With every slot taken, a removed file is unlinked; a symlink planted as
// a spare is never followed (its target stays as it was) and a fresh file
// is created instead.
func TestSpareSlotsAndSymlink(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	for range spareSlots + 3 {
		queue(t, d, env, "m\n")
	}
	deliverAll(t, d)
	if n, _ := d.Names("tmp"); len(n) != spareSlots {
		t.Errorf("tmp/ holds %v, want %d spares", n, spareSlots)
	}
	for _, sub := range []string{"new", "cur"} {
		if n, _ := d.Names(sub); len(n) != 0 {
			t.Errorf("%s/ holds %v", sub, n)
		}
	}

	e := Dir(t.TempDir())
	e.Init()
	target := t.TempDir() + "/precious"
	os.WriteFile(target, []byte("keep me\n"), 0o600)
	os.Symlink(target, e.Path("tmp", spareName(0)))
	id := queue(t, e, env, "Subject: s\n\nb\n")
	if b, _ := os.ReadFile(target); string(b) != "keep me\n" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	p, _ := e.Find(id)
	if st, err := os.Lstat(p); err != nil || !st.Mode().IsRegular() {
		t.Errorf("queued as %v %v, want a regular file", st, err)
	}
}

// A reader that opened a queue file just before it was finished (and
// perhaps refilled with the next message under another name) must not
// take that file for the one it asked for.
func TestStillNamed(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	id := queue(t, d, env, "Subject: a\n\na\n")
	p, _ := d.Find(id)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !stillNamed(f, p) {
		t.Fatal("a file just opened is not named by its path")
	}
	deliverAll(t, d)
	queue(t, d, env, "Subject: b\n\nb\n") // writes into the same inode
	if stillNamed(f, p) {
		t.Error("the old path still counts for a file that moved")
	}
	if _, err := Open(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a finished message: %v, want ErrNotExist", err)
	}
}

// The delay in the log is measured from the queue ID's microseconds, not
// from the envelope's whole second.
func TestArrived(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	before := time.Now()
	id := queue(t, d, env, "Subject: a\n\na\n")
	p, _ := d.Find(id)
	m, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := m.Arrived()
	if got.Before(before.Add(-time.Millisecond)) || got.After(time.Now()) || got.Unix() != m.Env.Arrival.Unix() {
		t.Errorf("Arrived %v, queued between %v and now; envelope %v", got, before, m.Env.Arrival)
	}
	if got.Nanosecond() == 0 && before.Nanosecond() != 0 {
		t.Errorf("Arrived %v has no fraction of a second", got)
	}
	m.ID = "NOTHEX" // an ID of another form: the envelope's second
	if !m.Arrived().Equal(m.Env.Arrival) {
		t.Errorf("Arrived %v for a foreign ID", m.Arrived())
	}
}

// In one process (the agent, whose listener takes what its deliveries
// recycle), every spare is found again, those past the blind slots too;
// a process that has seen none filled (a sendmail) looks at the blind
// slots only, and finds a spare there.
func TestSpareHint(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	const n = blindSlots + 20
	for range n {
		queue(t, d, env, "m\n")
	}
	deliverAll(t, d)
	spares := map[uint64]bool{}
	for k := range n {
		spares[inode(t, d.Path("tmp", spareName(k)))] = true
	}
	for range n {
		queue(t, d, env, "again\n")
	}
	names, _ := d.Names("new")
	reused := 0
	for _, name := range names {
		if spares[inode(t, d.Path("new", name))] {
			reused++
		}
	}
	if reused != n {
		t.Errorf("%d of %d messages were written into a spare, want all", reused, n)
	}
	if left, _ := d.Names("tmp"); len(left) != 0 {
		t.Errorf("tmp/ still holds %v", left)
	}

	// A fresh process: its hint knows nothing of this outbox.
	deliverAll(t, d)
	spareHints.Delete(d.Path("tmp"))
	h := spareHint(d.Path("tmp"))
	if got := h.Load(); got != 1<<blindSlots-1 {
		t.Errorf("a fresh hint is %x, want the blind slots", got)
	}
	f, _ := d.takeSpare("fresh")
	if f == nil {
		t.Fatal("a fresh process found no spare in the blind slots")
	}
	f.Close()
}

// A retired queue file that another name still holds (a claim's name
// left in new/) is not made a spare: a spare must be its file's only
// name, or two sendmails could each take one and write two messages into
// one file. The other name keeps the file.
func TestRecycleLinkedFile(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	queue(t, d, env, "Subject: linked\n\nbody\n")
	names, _ := d.Names("new")
	if len(names) != 1 {
		t.Fatalf("new/ holds %v", names)
	}
	p, err := d.Take(names[0]) // its name left in new/: never dropped
	if err != nil {
		t.Fatal(err)
	}
	ino := inode(t, p)
	m, err := OpenLocked(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Retire(); err != nil {
		t.Fatal(err)
	}
	if err := Recycle(m); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(d.Path("tmp"))
	for _, e := range ents {
		if inode(t, d.Path("tmp", e.Name())) == ino {
			t.Fatalf("the file, still named in new/, became %s in tmp/", e.Name())
		}
	}
	if inode(t, d.Path("new", names[0])) != ino {
		t.Fatal("the name in new/ lost its file")
	}

	// Its only name now: made a spare as any other.
	p, err = d.Take(names[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Drop(names[0]); err != nil {
		t.Fatal(err)
	}
	m, err = OpenLocked(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Retire(); err != nil {
		t.Fatal(err)
	}
	if err := Recycle(m); err != nil {
		t.Fatal(err)
	}
	ents, _ = os.ReadDir(d.Path("tmp"))
	if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), "spare.") || inode(t, d.Path("tmp", ents[0].Name())) != ino {
		t.Fatalf("tmp/ holds %v, want the file as its one spare", ents)
	}
}

// A spare that has a second name (a file system repaired after a crash
// can leave one, see openSpare) is not written over: the file under the
// other name keeps its bytes, the new message gets a file of its own,
// and only the spare's name is gone.
func TestSpareWithSecondName(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	queued := d.Path("new", "1796270747.661B2DFDAD4933355Q147.example")
	if err := os.WriteFile(queued, []byte("a queued message\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(queued, d.Path("tmp", spareName(0))); err != nil {
		t.Fatal(err)
	}
	env := &Envelope{Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	id := queue(t, d, env, "Subject: next\n\nthe next message\n")
	if b, _ := os.ReadFile(queued); string(b) != "a queued message\n" {
		t.Errorf("the file's other name now reads %q", b)
	}
	p, err := d.Find(id)
	if err != nil {
		t.Fatal(err)
	}
	if inode(t, p) == inode(t, queued) {
		t.Error("the new message was written into the file of two names")
	}
	if _, err := os.Lstat(d.Path("tmp", spareName(0))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the spare's name is still there: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(queued, &st); err != nil || st.Nlink != 1 {
		t.Errorf("the queued file has %d links (%v), want 1", st.Nlink, err)
	}
}

// A large queue file is not kept as a spare: a spare that no later
// message happens to take would keep its blocks (and the old message's
// text) for as long as the agent runs.
func TestLargeFileNotSpare(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	queue(t, d, env, "Subject: big\n\n"+strings.Repeat("old secret line\n", spareMax/16+1))
	deliverAll(t, d)
	if names, _ := d.Names("tmp"); len(names) != 0 {
		t.Errorf("a queue file of more than %d bytes kept in tmp/: %v", spareMax, names)
	}
	queue(t, d, env, "Subject: small\n\n"+strings.Repeat("line\n", 100))
	deliverAll(t, d)
	if names, _ := d.Names("tmp"); len(names) != 1 {
		t.Errorf("a small queue file is not kept as a spare: %v", names)
	}
}
