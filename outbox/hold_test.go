package outbox

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
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
