package maildir

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDeliverAndHas(t *testing.T) {
	d := Dir(filepath.Join(t.TempDir(), "Maildir"))
	if ok, err := d.Has("1.AR0.h"); ok || err != nil {
		t.Fatalf("Has on a missing Maildir: %v %v", ok, err)
	}
	if err := d.Deliver("1.AR0.h", []byte("X: y\n"), strings.NewReader("\nbody\n")); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(string(d), "new", "1.AR0.h"))
	if string(b) != "X: y\n\nbody\n" {
		t.Fatalf("copy %q", b)
	}
	// A reader moves it to cur/ with flags: still found.
	os.Rename(filepath.Join(string(d), "new", "1.AR0.h"), filepath.Join(string(d), "cur", "1.AR0.h:2,S"))
	if ok, _ := d.Has("1.AR0.h"); !ok {
		t.Fatal("copy in cur/ not found")
	}
	if ok, _ := d.Has("1.AR"); ok {
		t.Fatal("prefix of a name matched")
	}
	if n, _ := os.ReadDir(filepath.Join(string(d), "tmp")); len(n) != 0 {
		t.Fatalf("tmp/ not empty: %v", n)
	}
}

// mboxMessages splits an mbox the way an mboxrd reader does.
func mboxMessages(b []byte) []string {
	var out []string
	var cur []byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	first := true
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte("From ")) {
			if !first {
				out = append(out, string(bytes.TrimSuffix(cur, []byte("\n"))))
			}
			first, cur = false, nil
			continue
		}
		cur = append(cur, Unquote(line)...)
		cur = append(cur, '\n')
	}
	if !first {
		out = append(out, string(bytes.TrimSuffix(cur, []byte("\n"))))
	}
	return out
}

func TestMboxAppend(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "mbox")
	m := Mbox(p)
	msgs := []string{"A: 1\n\nFrom me\n>From you\n", "B: 2\n\nno final newline", "C: 3\n\n"}
	for _, s := range msgs {
		if err := m.Append("s@x", time.Unix(0, 0), nil, strings.NewReader(s)); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(p)
	if !bytes.HasPrefix(b, []byte("From s@x Thu Jan  1 00:00:00 1970\nA: 1\n")) {
		t.Fatalf("From_ line: %q", b)
	}
	got := mboxMessages(b)
	want := []string{"A: 1\n\nFrom me\n>From you\n", "B: 2\n\nno final newline\n", "C: 3\n\n"}
	if len(got) != 3 {
		t.Fatalf("read back %d messages: %q", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d: %q, want %q", i, got[i], want[i])
		}
	}
	if _, err := os.Stat(p + ".lock"); !os.IsNotExist(err) {
		t.Error("dotlock left behind")
	}
}

// A lock held by another program makes Append wait, then fail with a
// LockError that is temporary.
func TestMboxLockHeld(t *testing.T) {
	defer func(d time.Duration) { lockTimeout = d }(lockTimeout)
	lockTimeout = 200 * time.Millisecond
	p := filepath.Join(t.TempDir(), "mbox")
	os.WriteFile(p+".lock", []byte("1\n"), 0o644)
	l, err := Mbox(p).Lock()
	if err == nil {
		l.Unlock()
		t.Fatal("locked a mailbox whose dotlock is held")
	}
	if !IsTemporary(err) {
		t.Fatalf("lock error %v is not temporary", err)
	}
	// The deferral says which lock, since when, and when it is taken
	// over (mailq shows it).
	if msg := err.Error(); !strings.Contains(msg, "its dotlock "+p+".lock, made ") || !strings.Contains(msg, "taken over once 5m0s old") {
		t.Errorf("lock error %q does not name the dotlock", msg)
	}
}

// FuzzMboxQuote: mboxrd quoting round-trips any body.
func FuzzMboxQuote(f *testing.F) {
	f.Add([]byte("From x\n>From y\n>>From z\nFro\nFrom"))
	f.Add([]byte("a\nFrom "))
	f.Fuzz(func(t *testing.T, body []byte) {
		if bytes.Contains(body, []byte{'\r'}) {
			return
		}
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		q := &quoter{w: w, bol: true}
		// Feed in odd-sized pieces, as io.Copy would.
		for i := 0; i < len(body); i += 3 {
			q.Write(body[i:min(i+3, len(body))])
		}
		q.flush()
		w.Flush()
		var back []byte
		for _, line := range bytes.SplitAfter(out.Bytes(), []byte("\n")) {
			if bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) && !bytes.HasPrefix(line, []byte(">")) {
				t.Fatalf("unquoted From line %q in %q", line, out.Bytes())
			}
			back = append(back, Unquote(line)...)
		}
		if !bytes.Equal(back, body) {
			t.Fatalf("round trip:\n in %q\nout %q", body, back)
		}
	})
}

// A dotlock left by a process that no longer exists is taken over at
// once.
func TestStaleDotlockOfDeadProcess(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mbox")
	os.WriteFile(p+".lock", []byte("999999999\n"), 0o644)
	start := time.Now()
	if err := Mbox(p).Append("s@x", time.Now(), nil, strings.NewReader("A: 1\n\nb\n")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v to take over a dead process's lock", d)
	}
}
