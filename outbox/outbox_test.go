package outbox

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func queue(t *testing.T, d Dir, env *Envelope, msg string) string {
	t.Helper()
	dr, err := d.Create(env, "host.example")
	if err != nil {
		t.Fatal(err)
	}
	dr.WriteString(msg)
	if err := dr.Commit(); err != nil {
		t.Fatal(err)
	}
	return dr.ID()
}

func TestRoundTripAndJournal(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Sender: "a b@example.org", Arrival: time.Unix(1700000000, 0),
		Opts:  map[string]string{"ret": "hdrs"},
		Rcpts: []Recipient{{Addr: "root", Parent: -1}, {Addr: "far@remote.example", Parent: -1}}}
	msg := "Subject: x\n\nbody\n.\n"
	id := queue(t, d, env, msg)
	names, _ := d.Names("new")
	if len(names) != 1 || ID(names[0]) != id {
		t.Fatalf("new/ holds %v, want the ID %s", names, id)
	}
	p, err := d.Claim(names[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Claim(names[0]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("second claim: %v", err)
	}
	m, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Env.Sender != env.Sender || len(m.Env.Rcpts) != 2 || m.Env.Opts["ret"] != "hdrs" || !m.Env.Arrival.Equal(env.Arrival) {
		t.Fatalf("envelope: %+v", m.Env)
	}
	body, _ := io.ReadAll(m.Body())
	if string(body) != msg {
		t.Fatalf("body %q", body)
	}
	now := time.Unix(1700000100, 0)
	err = m.Append(
		Record{Kind: 'x', Idx: 0, Targets: []Target{{Addr: "|/bin/prog arg", Via: "root@h"}, {Addr: `\me`, Via: "root@h"}}},
		StateRecord(1, Deferred, 1, now, now.Add(time.Minute), "451 4.3.0 try\nagain %later"),
		StateRecord(2, Sent, 1, now, time.Time{}, "ok"),
	)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	// A torn record at the end (a crash in mid-append) is ignored and
	// cut off by the next append.
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("s 3 sent 1 17")
	f.Close()
	m, err = Open(p)
	if err != nil || m.JournalErr != nil {
		t.Fatal(err, m.JournalErr)
	}
	e := m.Env
	if len(e.Rcpts) != 4 || e.Rcpts[0].Status != Expanded || e.Rcpts[2].Addr != "|/bin/prog arg" || e.Rcpts[2].Parent != 0 ||
		e.Rcpts[1].Reason != "451 4.3.0 try\nagain %later" || !e.Rcpts[1].Next.Equal(now.Add(time.Minute)) ||
		e.Rcpts[2].Status != Sent || e.Rcpts[3].Status != Pending || e.Original(3) != "root" {
		t.Fatalf("after journal: %+v", e.Rcpts)
	}
	if err := m.Append(StateRecord(3, Bounced, 1, now, time.Time{}, "5.1.1 no")); err != nil {
		t.Fatal(err)
	}
	m.Close()
	raw, _ := os.ReadFile(p)
	if bytes.Contains(raw, []byte("s 3 sent 1 17")) {
		t.Fatal("torn record was not cut off")
	}
	m, _ = Open(p)
	if m.Env.Rcpts[3].Status != Bounced || m.Env.Done() {
		t.Fatalf("state: %+v done=%v", m.Env.Rcpts, m.Env.Done())
	}
	m.Close()
	list, err := d.List()
	if err != nil || len(list) != 1 || len(list[0].Rcpts) != 1 || list[0].Rcpts[0].Addr != "far@remote.example" {
		t.Fatalf("List: %+v %v", list, err)
	}
	var b bytes.Buffer
	WritePostfix(&b, list)
	if !strings.Contains(b.String(), "(451 4.3.0 try?again %later)") || !strings.HasSuffix(b.String(), "in 1 Request.\n") {
		t.Errorf("mailq:\n%s", b.String())
	}
}

// Two claimants racing for the same messages: each message is claimed
// exactly once.
func TestClaimIsExclusive(t *testing.T) {
	d := Dir(t.TempDir())
	for range 50 {
		queue(t, d, &Envelope{Rcpts: []Recipient{{Addr: "x", Parent: -1}}}, "m\n")
	}
	names, _ := d.Names("new")
	var mu sync.Mutex
	won := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, n := range names {
				if _, err := d.Claim(n); err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if won != len(names) {
		t.Fatalf("%d claims for %d messages", won, len(names))
	}
}

// An aborted draft leaves nothing behind.
func TestAbortLeavesNothing(t *testing.T) {
	d := Dir(t.TempDir())
	dr, err := d.Create(&Envelope{Rcpts: []Recipient{{Addr: "x", Parent: -1}}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	dr.WriteString("partial")
	dr.Abort()
	for _, sub := range []string{"tmp", "new", "cur"} {
		if n, _ := d.Names(sub); len(n) != 0 {
			t.Errorf("%s: %v", sub, n)
		}
	}
}

func TestCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"empty": "", "magic": "HOMEPOST 2\n", "short": "HOMEPOST 1\nsize 00000000000000000100\ntime 1\nfrom\nrcpt a\n\nabc",
		"norcpt": "HOMEPOST 1\nsize 00000000000000000000\ntime 1\nfrom\n\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(data), 0o600)
		if _, err := Open(p); err == nil {
			t.Errorf("%s: opened a corrupt file", name)
		}
	}
}

// FuzzParse: no input makes the parser panic, and what it accepts is
// written back the same way.
func FuzzParse(f *testing.F) {
	var b []byte
	env := &Envelope{Sender: "s@x", Arrival: time.Unix(5, 0), Rcpts: []Recipient{{Addr: "a b", Parent: -1}}}
	b, off, _ := appendEnvelope(b, env, false)
	copy(b[off:], "00000000000000000003")
	b = append(b, "abc"...)
	b = StateRecord(0, Deferred, 2, time.Unix(6, 0), time.Unix(7, 0), "why %").append(b)
	b = Record{Kind: 'x', Idx: 0, Targets: []Target{{Addr: "/f", Via: "v"}}}.append(b)
	b = Record{Kind: 'h', Hold: true}.append(b)
	b = MarkRecord(0, &Mark{Path: "/m", Off: 1, Len: 2, Time: time.Unix(8, 0)}).append(b)
	b = MarkRecord(DSNIdx, nil).append(b)
	f.Add(b)
	f.Add([]byte("HOMEPOST 1\nsize 00000000000000000000\ntime 1\nfrom\nrcpt a\n\n"))
	sealed, soff, _ := appendEnvelope(nil, env, true)
	copy(sealed[soff:], "00000000000000000003")
	f.Add(append(sealed, "abc"...))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, msg, err := Parse(data)
		if err != nil {
			return
		}
		var out []byte
		e2 := &Envelope{Sender: env.Sender, Arrival: env.Arrival, Opts: env.Opts}
		for _, r := range env.Rcpts {
			if r.Parent < 0 {
				e2.Rcpts = append(e2.Rcpts, Recipient{Addr: r.Addr, Parent: -1})
			}
		}
		out, off, _ := appendEnvelope(out, e2, false)
		size := []byte(strings.Repeat("0", sizeDigits))
		n := len(msg)
		for i := sizeDigits - 1; i >= 0 && n > 0; i-- {
			size[i] = byte('0' + n%10)
			n /= 10
		}
		copy(out[off:], size)
		out = append(out, msg...)
		env3, msg3, err := Parse(out)
		if err != nil || !bytes.Equal(msg3, msg) || env3.Sender != env.Sender || len(env3.Rcpts) != len(e2.Rcpts) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range e2.Rcpts {
			if env3.Rcpts[i].Addr != e2.Rcpts[i].Addr {
				t.Fatalf("recipient %d: %q != %q", i, env3.Rcpts[i].Addr, e2.Rcpts[i].Addr)
			}
		}
	})
}

// Take claims by a link: the name stays in new/ until Drop, a second
// Take finds the message claimed, mailq lists it once, and after Drop a
// Take finds nothing.
func TestTakeAndDrop(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Sender: "s@x", Arrival: time.Now(), Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	queue(t, d, env, "Subject: x\n\nbody\n")
	names, _ := d.Names("new")
	if len(names) != 1 {
		t.Fatalf("new/ holds %v", names)
	}
	n := names[0]
	p, err := d.Take(n)
	if err != nil {
		t.Fatal(err)
	}
	if p != d.Path("cur", n+":2,") {
		t.Errorf("taken to %s", p)
	}
	if still, _ := d.Names("new"); len(still) != 1 {
		t.Errorf("the name left new/ before Drop: %v", still)
	}
	if q, err := d.Take(n); !errors.Is(err, ErrClaimed) || q != p {
		t.Errorf("second Take: %q %v, want ErrClaimed", q, err)
	}
	if l, err := d.List(); err != nil || len(l) != 1 {
		t.Errorf("mailq lists %d entries (%v), want 1", len(l), err)
	}
	if err := d.Drop(n, "not-there"); err != nil {
		t.Fatal(err)
	}
	if still, _ := d.Names("new"); len(still) != 0 {
		t.Errorf("new/ after Drop: %v", still)
	}
	if _, err := d.Take(n); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Take after Drop: %v, want ErrNotExist", err)
	}
	if m, err := OpenLocked(p); err != nil {
		t.Errorf("the claimed file: %v", err)
	} else {
		m.Close()
	}
}
