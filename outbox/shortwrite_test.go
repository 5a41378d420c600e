package outbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An append that the disk cut short (ENOSPC after part of its bytes)
// is taken back: os.File.WriteAt reports no byte written when its last
// pwrite fails, even when an earlier one wrote some, so the bytes of
// the failed records stayed past the valid journal while the message
// believed its tail clean (zeroTail). The next, shorter append wrote
// over their start, and the rest was read back after it: a corrupt
// record at the next open, or, where the cut fell on a line's end, the
// failed records applied after the later one. Taking them back must not
// free the room allocated past the journal (Reserve) either: on a disk
// that others fill meanwhile, the result it was made for could then not
// be recorded.
func TestAppendCutShortIsTakenBack(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot mount a small tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", dir).Run()
	d := Dir(filepath.Join(dir, "outbox"))
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	env := &Envelope{Arrival: time.Unix(1700000000, 0)}
	for range 40 {
		env.Rcpts = append(env.Rcpts, Recipient{Addr: "far@remote.example", Parent: -1})
	}
	// The message ends a little short of a page: the next result
	// needs the room allocated past it.
	probe := Dir(t.TempDir())
	probe.Init()
	queue(t, probe, env, "Subject: x\n\n\n")
	pn, _ := probe.Names("new")
	st, err := os.Stat(probe.Path("new", pn[0]))
	if err != nil {
		t.Fatal(err)
	}
	pad := (4096 + 4040 - st.Size()%4096) % 4096
	queue(t, d, env, "Subject: x\n\n"+strings.Repeat("b", int(pad))+"\n")
	names, _ := d.Names("new")
	p, err := d.Claim(names[0])
	if err != nil {
		t.Fatal(err)
	}
	m, err := OpenLocked(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Reserve(2048); err != nil {
		t.Fatal(err)
	}
	fillUp := func() {
		f, err := os.OpenFile(filepath.Join(dir, "fill"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for {
			if _, err := f.Write(make([]byte, 512)); err != nil {
				return
			}
		}
	}
	fillUp()
	now := time.Unix(1700000100, 0)
	var big []Record
	for i := range 40 {
		big = append(big, StateRecord(i, Deferred, 1, now, now.Add(time.Hour), "4.2.0 "+strings.Repeat("y", 400)))
	}
	if err := m.Append(big...); err == nil {
		t.Skip("SKIP: the file system took 16 KB of journal on a full disk")
	}
	fillUp() // others take what the disk has free
	if err := m.Append(StateRecord(0, Sent, 1, now, time.Time{}, "250 2.0.0 "+strings.Repeat("z", 300))); err != nil {
		t.Fatalf("the room reserved for a result is gone after a failed append: %v", err)
	}
	m2, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if m2.JournalErr != nil {
		t.Errorf("journal after a failed append and a good one: %v", m2.JournalErr)
	}
	for i, r := range m2.Env.Rcpts {
		want := Pending
		if i == 0 {
			want = Sent
		}
		if r.Status != want {
			t.Errorf("recipient %d is %v, want %v (a failed append's record read back)", i, r.Status, want)
		}
	}
}
