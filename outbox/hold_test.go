package outbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Hold claims a message out of new/ and records the hold; Release
// records the release and puts it back into new/; Delete removes it.
// Doing a thing twice does nothing the second time.
func TestHoldReleaseDelete(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Sender: "a@example.org", Arrival: time.Unix(1700000000, 0), Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	id := queue(t, d, env, "Subject: x\n\nbody\n")
	p, err := d.Find(id)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Hold(p); !ok || err != nil {
		t.Fatalf("Hold = %v, %v", ok, err)
	}
	held, err := d.Find(id)
	if err != nil || filepath.Base(filepath.Dir(held)) != "cur" {
		t.Fatalf("held message at %q, %v; want it in cur/", held, err)
	}
	if m, err := Open(held); err != nil || !m.Env.Held {
		t.Fatalf("held message: %v, %+v", err, m)
	} else {
		m.Close()
	}
	// The old path is gone: Hold finds the message again by its ID.
	if ok, err := d.Hold(p); ok || err != nil {
		t.Fatalf("second Hold = %v, %v; want false, nil", ok, err)
	}
	if ok, err := d.Release(held); !ok || err != nil {
		t.Fatalf("Release = %v, %v", ok, err)
	}
	back, _ := d.Find(id)
	if filepath.Base(filepath.Dir(back)) != "new" {
		t.Fatalf("released message at %q, want it in new/", back)
	}
	if ok, err := d.Release(back); ok || err != nil {
		t.Fatalf("second Release = %v, %v; want false, nil", ok, err)
	}
	all, err := d.All()
	if err != nil || len(all) != 1 || all[0] != back {
		t.Fatalf("All = %q, %v", all, err)
	}
	if ok, err := d.Delete(back); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if _, err := os.Stat(back); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted message still there: %v", err)
	}
	if ok, err := d.Delete(back); ok || err != nil {
		t.Fatalf("second Delete = %v, %v; want false, nil", ok, err)
	}
}

// A hold waits for the lock a delivery holds on the queue file, and the
// record it writes follows the delivery's.
func TestHoldWaitsForLock(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Sender: "a@example.org", Arrival: time.Unix(1700000000, 0), Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	id := queue(t, d, env, "Subject: x\n\nbody\n")
	names, _ := d.Names("new")
	p, err := d.Claim(names[0])
	if err != nil {
		t.Fatal(err)
	}
	m, err := OpenLocked(p)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := d.Hold(p)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Hold did not wait for the lock: %v", err)
	default:
	}
	if err := m.Append(StateRecord(0, Deferred, 1, time.Now(), time.Now().Add(time.Minute), "451 later")); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p, _ = d.Find(id)
	m, err = Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.Env.Held || m.Env.Rcpts[0].Attempts != 1 {
		t.Fatalf("after the hold: held %v, recipient %+v", m.Env.Held, m.Env.Rcpts[0])
	}
}

func TestParseID(t *testing.T) {
	for in, want := range map[string]string{"ABC123": "ABC123", "ABC123*": "ABC123", "ABC123!": "ABC123", " X ": "X"} {
		if got, err := ParseID(in); err != nil || got != want {
			t.Errorf("ParseID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "*", "../x", "a.b", "a/b"} {
		if got, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) = %q, want an error", bad, got)
		}
	}
}

// held queues a message and holds it: it is in cur/ only.
func held(t *testing.T, d Dir) (name, cur string) {
	t.Helper()
	env := &Envelope{Sender: "a@example.org", Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	id := queue(t, d, env, "Subject: x\n\nbody\n")
	p, _ := d.Find(id)
	if ok, err := d.Hold(p); !ok || err != nil {
		t.Fatalf("Hold = %v, %v", ok, err)
	}
	cur, _ = d.Find(id)
	name, _, _ = strings.Cut(filepath.Base(cur), ":")
	return name, cur
}

// names lists what new/ and cur/ hold.
func names(d Dir) string {
	n, _ := d.Names("new")
	c, _ := d.Names("cur")
	return fmt.Sprintf("new/ %q, cur/ %q", n, c)
}

// setLinkat replaces linkat for the test.
func setLinkat(t *testing.T, f func(int, string, int, string, int) error) {
	saved := linkat
	linkat = f
	t.Cleanup(func() { linkat = saved })
}

// A release gives the message back to new/ by a link, and unlinks it
// from cur/ only after: in between it is in both, under the lock, and
// DropClaimed (an agent that found it in both) leaves it alone.
func TestReleaseLinksBeforeUnlink(t *testing.T) {
	d := Dir(t.TempDir())
	name, cur := held(t, d)
	linked := false
	setLinkat(t, func(fd1 int, p1 string, fd2 int, p2 string, flags int) error {
		if err := unix.Linkat(fd1, p1, fd2, p2, flags); err != nil {
			return err
		}
		linked = true
		a, err1 := os.Stat(cur)
		b, err2 := os.Stat(d.Path("new", name))
		if err1 != nil || err2 != nil || !os.SameFile(a, b) {
			t.Errorf("after the link: %s", names(d))
		}
		if dropped, err := d.DropClaimed(name); dropped || err != nil {
			t.Errorf("DropClaimed during the release = %v, %v; want false, nil", dropped, err)
		}
		if _, err := os.Stat(d.Path("new", name)); err != nil {
			t.Errorf("DropClaimed dropped the name of a message being released: %s", names(d))
		}
		return nil
	})
	if ok, err := d.Release(cur); !ok || err != nil {
		t.Fatalf("Release = %v, %v", ok, err)
	}
	if !linked {
		t.Fatal("the release did not link the message into new/")
	}
	if n, _ := d.Names("new"); len(n) != 1 || n[0] != name {
		t.Fatalf("after the release: %s", names(d))
	}
	if c, _ := d.Names("cur"); len(c) != 0 {
		t.Fatalf("after the release: %s", names(d))
	}
	m, err := Open(d.Path("new", name))
	if err != nil || m.Env.Held {
		t.Fatalf("released message: %v, held %v", err, m != nil && m.Env.Held)
	}
	m.Close()
}

// Where hard links are refused, a release renames.
func TestReleaseWithoutLinks(t *testing.T) {
	d := Dir(t.TempDir())
	name, cur := held(t, d)
	setLinkat(t, func(int, string, int, string, int) error { return unix.EPERM })
	if ok, err := d.Release(cur); !ok || err != nil {
		t.Fatalf("Release = %v, %v", ok, err)
	}
	if n, _ := d.Names("new"); len(n) != 1 || n[0] != name {
		t.Fatalf("after the release: %s", names(d))
	}
	if c, _ := d.Names("cur"); len(c) != 0 {
		t.Fatalf("after the release: %s", names(d))
	}
}

// A release that finds the message's name in new/ already (a claim's,
// never dropped) keeps it; another file of that name stops it.
func TestReleaseOverNameInNew(t *testing.T) {
	d := Dir(t.TempDir())
	name, cur := held(t, d)
	if err := os.Link(cur, d.Path("new", name)); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Release(cur); !ok || err != nil {
		t.Fatalf("Release = %v, %v", ok, err)
	}
	if n, _ := d.Names("new"); len(n) != 1 {
		t.Fatalf("after the release: %s", names(d))
	}
	if c, _ := d.Names("cur"); len(c) != 0 {
		t.Fatalf("after the release: %s", names(d))
	}

	name, cur = held(t, d)
	if err := os.WriteFile(d.Path("new", name), []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Release(cur); err == nil {
		t.Fatal("Release over another file in new/ succeeded")
	}
	if _, err := os.Stat(cur); err != nil {
		t.Fatalf("the message left cur/: %s", names(d))
	}
}

// A hold that cannot write its record gives the message back to new/,
// by a link.
func TestHoldFailureGivesBack(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	name := "1700000000.BAD.host"
	if err := os.WriteFile(d.Path("new", name), []byte("not a queue file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	linked := false
	setLinkat(t, func(fd1 int, p1 string, fd2 int, p2 string, flags int) error {
		linked = linked || filepath.Base(filepath.Dir(p1)) == "cur"
		return unix.Linkat(fd1, p1, fd2, p2, flags)
	})
	if ok, err := d.Hold(d.Path("new", name)); ok || err == nil {
		t.Fatalf("Hold of a broken file = %v, %v", ok, err)
	}
	if !linked {
		t.Error("not given back by a link")
	}
	if n, _ := d.Names("new"); len(n) != 1 || n[0] != name {
		t.Fatalf("after the failed hold: %s", names(d))
	}
	if c, _ := d.Names("cur"); len(c) != 0 {
		t.Fatalf("after the failed hold: %s", names(d))
	}
}

// DropClaimed drops the name in new/ of a message in cur/ under its
// lock: not while another open file holds the lock, not when cur/ no
// longer holds the message (an error satisfying os.ErrNotExist: claim it
// anew), not when new/ holds another file.
func TestDropClaimed(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Sender: "a@example.org", Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	queue(t, d, env, "Subject: x\n\nbody\n")
	n, _ := d.Names("new")
	name := n[0]
	cur, err := d.Take(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := OpenLocked(cur)
	if err != nil {
		t.Fatal(err)
	}
	if dropped, err := d.DropClaimed(name); dropped || err != nil {
		t.Fatalf("DropClaimed while locked = %v, %v; want false, nil", dropped, err)
	}
	if _, err := os.Stat(d.Path("new", name)); err != nil {
		t.Fatalf("dropped while locked: %s", names(d))
	}
	m.Close()
	if dropped, err := d.DropClaimed(name); !dropped || err != nil {
		t.Fatalf("DropClaimed = %v, %v; want true, nil", dropped, err)
	}
	if n, _ := d.Names("new"); len(n) != 0 {
		t.Fatalf("not dropped: %s", names(d))
	}
	if dropped, err := d.DropClaimed(name); dropped || err != nil {
		t.Fatalf("DropClaimed of a name gone = %v, %v; want false, nil", dropped, err)
	}

	// Given back meanwhile: in new/ only.
	if err := os.Link(cur, d.Path("new", name)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(cur); err != nil {
		t.Fatal(err)
	}
	if dropped, err := d.DropClaimed(name); dropped || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("DropClaimed with cur/ empty = %v, %v; want false, ErrNotExist", dropped, err)
	}
	if n, _ := d.Names("new"); len(n) != 1 {
		t.Fatalf("dropped the only name: %s", names(d))
	}

	// Another file in cur/.
	if err := os.WriteFile(cur, []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	if dropped, err := d.DropClaimed(name); dropped || err == nil || errors.Is(err, os.ErrNotExist) {
		t.Fatalf("DropClaimed with another file in cur/ = %v, %v; want an error", dropped, err)
	}
	if n, _ := d.Names("new"); len(n) != 1 {
		t.Fatalf("dropped the only name: %s", names(d))
	}
}

// Hold of a message whose lock a delivery holds asks for the hold
// (ErrHoldAsked) without waiting for the lock: List shows it held, the
// holder records it (TakeAskedHold) and the request goes; Release
// undoes a hold asked and not yet recorded at once, lock or not; and a
// hold asked once the lock is free is recorded by Hold itself.
func TestHoldAsked(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Sender: "a@example.org", Arrival: time.Unix(1700000000, 0), Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	id := queue(t, d, env, "Subject: x\n\nbody\n")
	p, _ := d.Find(id)
	cur, err := d.Take(filepath.Base(p))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.DropClaimed(filepath.Base(p)); err != nil {
		t.Fatal(err)
	}
	m, err := OpenLocked(cur) // a delivery has it
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ok, err := d.HoldBusy(cur)
	// Waiting for the lock would take HoldWait; the request's own
	// fsyncs may take a while on a busy disk.
	if !ok || !errors.Is(err, ErrHoldAsked) || time.Since(start) >= HoldWait {
		t.Fatalf("HoldBusy of a locked message = %v, %v after %v; want true, ErrHoldAsked at once", ok, err, time.Since(start))
	}
	if !d.HoldAsked(id) || !d.AskedHolds()[id] {
		t.Fatal("the hold is not asked for")
	}
	if es, _ := d.List(); len(es) != 1 || !es[0].Held || !es[0].HoldAsked {
		t.Fatalf("List: %+v; want the message held", es)
	}
	// Released before the delivery let it go: no lock needed.
	if ok, err := d.Release(cur); !ok || err != nil || d.HoldAsked(id) {
		t.Fatalf("Release of a hold asked for = %v, %v (asked still: %v)", ok, err, d.HoldAsked(id))
	}
	if ok, err := d.HoldBusy(cur); !ok || !errors.Is(err, ErrHoldAsked) {
		t.Fatalf("HoldBusy again = %v, %v", ok, err)
	}
	// The delivery records it as it lets the message go.
	if held, err := d.TakeAskedHold(m); !held || err != nil || !m.Env.Held || d.HoldAsked(id) {
		t.Fatalf("TakeAskedHold = %v, %v; held %v, asked %v", held, err, m.Env.Held, d.HoldAsked(id))
	}
	m.Close()
	if m, err := Open(cur); err != nil || !m.Env.Held {
		t.Fatalf("after TakeAskedHold, the journal does not say held: %v", err)
	} else {
		m.Close()
	}
	if ok, err := d.Release(cur); !ok || err != nil {
		t.Fatalf("Release = %v, %v", ok, err)
	}
	// A request left behind (a crash before its removal) with the
	// lock free: Hold records the hold and removes the request.
	back, _ := d.Find(id)
	if err := d.AskHold(id); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Hold(back); !ok || err != nil || d.HoldAsked(id) {
		t.Fatalf("Hold with a request left = %v, %v (asked still: %v)", ok, err, d.HoldAsked(id))
	}
}
