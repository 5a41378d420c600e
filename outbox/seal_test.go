package outbox

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sealer records what SyncSealed was asked and what new/ held then.
type sealer struct {
	t      *testing.T
	err    error
	calls  int
	inNew  []string // new/ at the call
	synced *os.File
}

func (s *sealer) SyncFile(f *os.File) error { s.t.Error("SyncFile on a sealed draft"); return f.Sync() }
func (s *sealer) SyncDir(dir string) error  { s.t.Error("SyncDir on a sealed draft"); return nil }
func (s *sealer) SyncSealed(f *os.File, dir string) error {
	s.calls++
	s.synced = f
	s.inNew, _ = Dir(filepath.Dir(dir)).Names("new")
	if s.err != nil {
		return s.err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func sealedQueue(t *testing.T, d Dir, msg string) (string, *sealer) {
	t.Helper()
	env := &Envelope{Sender: "s@example.org", Arrival: time.Unix(1700000000, 0),
		Rcpts: []Recipient{{Addr: "root", Parent: -1}, {Addr: "b@example.org", Parent: -1}}}
	dr, err := d.CreateSealed(env, "host.example")
	if err != nil {
		t.Fatal(err)
	}
	dr.WriteString(msg[:len(msg)/2])
	dr.Write([]byte(msg[len(msg)/2:]))
	s := &sealer{t: t}
	if err := dr.CommitWith(s); err != nil {
		t.Fatal(err)
	}
	names, _ := d.Names("new")
	if len(names) != 1 {
		t.Fatalf("new/ holds %v", names)
	}
	return d.Path("new", names[0]), s
}

// A sealed queue file is renamed into new/ before its one sync, carries
// its seal, and opens whole.
func TestSealedRoundTrip(t *testing.T) {
	d := Dir(t.TempDir())
	msg := "Subject: sealed\n\n" + strings.Repeat("a line of the body\n", 500)
	p, s := sealedQueue(t, d, msg)
	if s.calls != 1 || len(s.inNew) != 1 {
		t.Fatalf("SyncSealed called %d times, new/ then held %v: want once, after the rename", s.calls, s.inNew)
	}
	data, _ := os.ReadFile(p)
	if !bytes.Contains(data[:200], []byte("\nseal ")) || bytes.Contains(data[:200], []byte("\nseal "+strings.Repeat("0", sealDigits)+"\n")) {
		t.Fatalf("no seal in the envelope:\n%s", data[:200])
	}
	for _, open := range []func(string) (*Message, error){Open, OpenLocked} {
		m, err := open(p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(m.Body())
		if string(body) != msg || len(m.Env.Rcpts) != 2 {
			t.Errorf("read back %d bytes, %d recipients", len(body), len(m.Env.Rcpts))
		}
		m.Close()
	}
	// Claimed, the file keeps its queue ID and its seal holds.
	cp, err := d.Claim(filepath.Base(p))
	if err != nil {
		t.Fatal(err)
	}
	m, err := OpenLocked(cp)
	if err != nil {
		t.Fatalf("claimed sealed file: %v", err)
	}
	// Journal records after the message are outside the seal.
	if err := m.Append(StateRecord(0, Deferred, 1, time.Unix(1, 0), time.Unix(2, 0), "later")); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if m, err = OpenLocked(cp); err != nil {
		t.Fatalf("after a journal record: %v", err)
	}
	m.Close()
}

// What a power loss can leave of a sealed file renamed before its sync
// is refused by the seal, never delivered as mail: blocks never written
// (zeros), the old bytes of a spare or of another message's blocks, a
// size never written, a file cut short.
func TestTornSealedFile(t *testing.T) {
	msg := "Subject: sealed\n\n" + strings.Repeat("0123456789abcdef\n", 600) // 10 KB: three blocks
	for _, tc := range []struct {
		name string
		tear func(t *testing.T, d Dir, p string) string
	}{
		{"body block never written", func(t *testing.T, d Dir, p string) string {
			f, _ := os.OpenFile(p, os.O_WRONLY, 0)
			f.WriteAt(make([]byte, 4096), 4096)
			f.Close()
			return p
		}},
		{"another message's blocks", func(t *testing.T, d Dir, p string) string {
			// An older whole sealed file, under this file's name: its
			// seal is of another queue ID.
			other, _ := sealedQueue(t, Dir(t.TempDir()), msg)
			data, _ := os.ReadFile(other)
			os.WriteFile(p, data, 0o600)
			return p
		}},
		{"a spare's old bytes past a new envelope", func(t *testing.T, d Dir, p string) string {
			data, _ := os.ReadFile(p)
			copy(data[300:], strings.Repeat("X", 100))
			os.WriteFile(p, data, 0o600)
			return p
		}},
		{"size never written", func(t *testing.T, d Dir, p string) string {
			data, _ := os.ReadFile(p)
			i := bytes.Index(data, []byte("size ")) + 5
			copy(data[i:], strings.Repeat("0", sizeDigits))
			os.WriteFile(p, data, 0o600)
			return p
		}},
		{"seal never written", func(t *testing.T, d Dir, p string) string {
			data, _ := os.ReadFile(p)
			i := bytes.Index(data, []byte("\nseal ")) + 6
			copy(data[i:], strings.Repeat("0", sealDigits))
			os.WriteFile(p, data, 0o600)
			return p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Dir(t.TempDir())
			p, _ := sealedQueue(t, d, msg)
			p = tc.tear(t, d, p)
			m, err := OpenLocked(p)
			if err == nil {
				m.Close()
				t.Fatal("a torn sealed file opened as mail")
			}
			if !errors.Is(err, ErrTorn) {
				t.Fatalf("error %v, want ErrTorn", err)
			}
		})
	}
	// The seal is the queue file's own: a whole file moved under
	// another queue ID does not pass.
	d := Dir(t.TempDir())
	p, _ := sealedQueue(t, d, msg)
	q := filepath.Join(filepath.Dir(p), "1700000000.0123456789ABCDEF.host.example")
	os.Rename(p, q)
	if _, err := OpenLocked(q); !errors.Is(err, ErrTorn) {
		t.Errorf("renamed to another ID: %v, want ErrTorn", err)
	}
}

// A failed sync takes the rename back: nothing is left in new/ or in
// tmp/, and the caller hears of it.
func TestSealedSyncFails(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Sender: "s@example.org", Arrival: time.Now(), Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	dr, err := d.CreateSealed(env, "host.example")
	if err != nil {
		t.Fatal(err)
	}
	dr.WriteString("Subject: x\n\nbody\n")
	s := &sealer{t: t, err: errors.New("EIO")}
	if err := dr.CommitWith(s); err == nil {
		t.Fatal("commit succeeded with a failing sync")
	}
	if len(s.inNew) != 1 {
		t.Errorf("new/ at the sync: %v", s.inNew)
	}
	for _, sub := range []string{"new", "tmp"} {
		if n, _ := d.Names(sub); len(n) != 0 {
			t.Errorf("%s/ holds %v after a failed commit", sub, n)
		}
	}
}

// Without a Sealer, a sealed draft takes sendmail's order (fsync, rename,
// fsync) and is no less whole.
func TestSealedWithOwnSyncs(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Sender: "s@example.org", Arrival: time.Now(), Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	dr, err := d.CreateSealed(env, "host.example")
	if err != nil {
		t.Fatal(err)
	}
	dr.WriteString("Subject: x\n\nbody\n")
	if err := dr.Commit(); err != nil {
		t.Fatal(err)
	}
	names, _ := d.Names("new")
	if len(names) != 1 {
		t.Fatalf("new/ holds %v", names)
	}
	m, err := OpenLocked(d.Path("new", names[0]))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}
