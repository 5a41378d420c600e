package outbox

import (
	"crypto/sha256"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// A mark survives the journal, a state record clears it (a bounce the
// DSN's too), and "m IDX -" clears it explicitly.
func TestMarkRecords(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Rcpts: []Recipient{{Addr: "root", Parent: -1}, {Addr: "me", Parent: -1}}}
	queue(t, d, env, "Subject: m\n\nbody\n")
	names, _ := d.Names("new")
	p, err := d.Claim(names[0])
	if err != nil {
		t.Fatal(err)
	}
	m, err := OpenLocked(p)
	if err != nil {
		t.Fatal(err)
	}
	mk := &Mark{Path: "/var/mail/a b", Off: 4096, Len: 861, Sum: sha256.Sum256([]byte("x")), Time: time.Unix(1732651240, 0)}
	dsn := &Mark{Path: "/var/mail/a b", Off: 4957, Len: 100, Time: time.Unix(1732651241, 0)}
	if err := m.Append(MarkRecord(1, mk), MarkRecord(DSNIdx, dsn)); err != nil {
		t.Fatal(err)
	}
	m.Close()
	reopen := func() *Message {
		t.Helper()
		m, err := OpenLocked(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.JournalErr != nil {
			t.Fatal(m.JournalErr)
		}
		return m
	}
	m = reopen()
	if got := m.Env.Rcpts[1].Mark; got == nil || *got != *mk || m.Env.Rcpts[0].Mark != nil {
		t.Fatalf("marks %+v %+v", m.Env.Rcpts[0].Mark, got)
	}
	if got := m.Env.DSNMark; got == nil || *got != *dsn {
		t.Fatalf("DSN mark %+v", got)
	}
	if !m.Journaled() {
		t.Error("a marked message is not taken for one that may have copies")
	}
	now := time.Unix(1732651300, 0)
	if err := m.Append(StateRecord(1, Bounced, 1, now, time.Time{}, "5.1.1 gone")); err != nil {
		t.Fatal(err)
	}
	m.Close()
	m = reopen()
	if m.Env.Rcpts[1].Mark != nil || m.Env.DSNMark != nil {
		t.Fatalf("a result left the marks: %+v %+v", m.Env.Rcpts[1].Mark, m.Env.DSNMark)
	}
	if err := m.Append(MarkRecord(0, mk), MarkRecord(0, nil)); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if m = reopen(); m.Env.Rcpts[0].Mark != nil {
		t.Fatalf("cleared mark: %+v", m.Env.Rcpts[0].Mark)
	}
	m.Close()
	hex := strings.Repeat("00", 32)
	for _, bad := range []string{"m 0 /p 1 2", "m -2 -", "m 0 /p -1 2 " + hex + " 3", "m 0 /p 1 0 " + hex + " 3", "m 0 /p 1 2 zz 3", "m 0 % 1 2 " + hex + " 3"} {
		if _, err := parseRecord(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// A message found in cur/ already (a power loss kept the claim's new name
// and the old one) is not claimed again as new.
func TestClaimOfClaimedMessage(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	queue(t, d, env, "Subject: twice\n\nbody\n")
	names, _ := d.Names("new")
	p, err := d.Claim(names[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Link(p, d.Path("new", names[0])); err != nil {
		t.Fatal(err)
	}
	q, err := d.Claim(names[0])
	if !errors.Is(err, ErrClaimed) || q != p {
		t.Fatalf("claim of a claimed message: %q %v", q, err)
	}
	if l, _ := d.Names("new"); len(l) != 0 {
		t.Fatalf("new/ still holds %v", l)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the message in cur/: %v", err)
	}
	// Another file of the same name is not removed.
	os.WriteFile(d.Path("new", names[0]), []byte("other"), 0o600)
	if _, err := d.Claim(names[0]); err == nil || errors.Is(err, ErrClaimed) {
		t.Fatalf("claim over another file: %v", err)
	}
	if _, err := os.Stat(d.Path("new", names[0])); err != nil {
		t.Fatal(err)
	}
}

// A retired file is out of cur/ at once but becomes a spare only when
// recycled; what a crash leaves between the two is recycled by Tidy.
func TestRetireRecycleTidy(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	for range 6 {
		queue(t, d, env, "Subject: r\n\n"+strings.Repeat("secret\n", 100))
	}
	names, _ := d.Names("new")
	var ms []*Message
	for _, n := range names {
		p, _ := d.Claim(n)
		m, err := OpenLocked(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Retire(); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	if l, _ := d.Names("cur"); len(l) != 0 {
		t.Fatalf("cur/ holds %v after retiring", l)
	}
	for k := range spareSlots {
		if _, err := os.Stat(d.Path("tmp", spareName(k))); err == nil {
			t.Fatalf("a spare before recycling")
		}
	}
	// Recycle four, and leave two as a crash would.
	if err := Recycle(ms[:4]...); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[4:] {
		m.Close()
	}
	tmp, _ := d.Names("tmp")
	if len(tmp) != 6 {
		t.Fatalf("tmp/: %v", tmp)
	}
	if err := d.Tidy(); err != nil {
		t.Fatal(err)
	}
	tmp, _ = d.Names("tmp")
	if len(tmp) != min(6, spareSlots) {
		t.Fatalf("tmp/ after Tidy: %v", tmp)
	}
	for _, n := range tmp {
		if !strings.HasPrefix(n, "spare.") {
			t.Fatalf("tmp/ after Tidy: %v", tmp)
		}
		// Spares keep their blocks: the next draft writes over them.
		if st, _ := os.Stat(d.Path("tmp", n)); st.Size() == 0 {
			t.Errorf("%s was emptied", n)
		}
	}
}

// A FIFO, a symbolic link or a directory in the queue is not opened as
// a queue file (a FIFO would block, a link would be followed).
func TestOpenOddFiles(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	target := d.Path("target")
	os.WriteFile(target, []byte("HOMEPOST 1\n"), 0o600)
	os.Symlink(target, d.Path("cur", "link"))
	os.Mkdir(d.Path("cur", "dir"), 0o700)
	if err := mkfifo(d.Path("cur", "fifo")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"link", "dir", "fifo"} {
		done := make(chan error, 1)
		go func() {
			_, err := OpenLocked(d.Path("cur", n))
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("%s: %v", n, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: open blocks", n)
		}
	}
}

// Holding a message whose name is in new/ and in cur/ (a claim a power
// loss half kept) holds the one in cur/.
func TestHoldClaimedMessage(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	queue(t, d, env, "Subject: h\n\nbody\n")
	names, _ := d.Names("new")
	p, err := d.Claim(names[0])
	if err != nil {
		t.Fatal(err)
	}
	os.Link(p, d.Path("new", names[0]))
	if ok, err := d.Hold(d.Path("new", names[0])); !ok || err != nil {
		t.Fatalf("hold: %v %v", ok, err)
	}
	m, err := Open(p)
	if err != nil || !m.Env.Held {
		t.Fatalf("not held: %v", err)
	}
	m.Close()
}
