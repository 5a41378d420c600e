package outbox

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mailq prints the message's size, as Postfix's showq does (its SIZE
// record), not the queue file's, which grows with the envelope and the
// journal; the total adds up the sizes shown, as Postfix's postqueue
// does, not the queue files: a short message to many recipients keeps
// far more state than text.
func TestMailqSizeAsPostfix(t *testing.T) {
	d := Dir(t.TempDir())
	msg := "Subject: x\n\n" + strings.Repeat("body line\n", 300) // 3012 bytes
	var rcpts []Recipient
	for i := range 400 {
		rcpts = append(rcpts, Recipient{Addr: fmt.Sprintf("user%02d@remote.example", i), Parent: -1})
	}
	queue(t, d, &Envelope{Sender: "me@example.org", Arrival: time.Unix(1700000000, 0), Rcpts: rcpts}, msg)
	names, _ := d.Names("new")
	p, _ := d.Claim(names[0])
	m, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000100, 0)
	var recs []Record
	for i := range rcpts {
		recs = append(recs, StateRecord(i, Deferred, 1, now, now.Add(time.Minute), "4.3.0 host smtp.example.com said: 451 4.3.0 try again later"))
	}
	if err := m.Append(recs...); err != nil {
		t.Fatal(err)
	}
	m.Close()
	// A second message, whose size adds to the first one's: the total
	// is of the sum, not of each message's whole kilobytes.
	small := "Subject: y\n\n" + strings.Repeat("z", 1100) + "\n"
	queue(t, d, &Envelope{Sender: "me@example.org", Arrival: time.Unix(1700000050, 0), Rcpts: rcpts[:1]}, small)
	if st, _ := os.Stat(p); st == nil || st.Size() < 10*1024 {
		t.Fatalf("queue file %v: want one much larger than the message", st)
	}
	list, err := d.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("List: %v %v", list, err)
	}
	var b bytes.Buffer
	if err := WritePostfix(&b, list); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	first := strings.Split(out, "\n")[1]
	if f := strings.Fields(first); len(f) < 2 || f[1] != fmt.Sprint(len(msg)) {
		t.Errorf("size column %q, want the message size %d:\n%s", first, len(msg), out)
	}
	if want := fmt.Sprintf("\n-- %d Kbytes in 2 Requests.\n", (len(msg)+len(small))/1024); !strings.HasSuffix(out, want) {
		t.Errorf("total, want %q:\n%s", want, out[strings.LastIndex(out[:len(out)-1], "\n"):])
	}
	var j bytes.Buffer
	WriteJSON(&j, list)
	if !strings.Contains(j.String(), fmt.Sprintf(`"message_size":%d,`, len(msg))) {
		t.Errorf("json: %s", j.String())
	}
}

// A committed queue file has room for its journal already allocated, so
// that recording results does not need a free block: with the disk full,
// a result that cannot be recorded would have a recipient sent again at
// every retry.
func TestJournalSpaceReserved(t *testing.T) {
	d := Dir(t.TempDir())
	queue(t, d, &Envelope{Sender: "s@x", Rcpts: []Recipient{{Addr: "a@remote.example", Parent: -1}}}, "Subject: x\n\nbody\n")
	names, _ := d.Names("new")
	p := d.Path("new", names[0])
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 < st.Size+journalReserve {
		t.Errorf("queue file of %d bytes has %d bytes allocated, want at least %d", st.Size, st.Blocks*512, st.Size+journalReserve)
	}
	// The reserve does not count as content.
	m, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Append(StateRecord(0, Sent, 1, time.Unix(5, 0), time.Time{}, "2.0.0 ok")); err != nil {
		t.Fatal(err)
	}
	m2, err := Open(p)
	if err != nil || m2.JournalErr != nil || m2.Env.Rcpts[0].Status != Sent {
		t.Fatalf("after append: %v %v", err, m2)
	}
	m2.Close()
}

// A queue file made of a spare keeps the old message's length, zeroed
// past its own end: the total counts the message, not that.
func TestMailqTotalOfSpare(t *testing.T) {
	d := Dir(t.TempDir())
	queue(t, d, &Envelope{Sender: "me@example.org", Arrival: time.Unix(1700000000, 0), Rcpts: []Recipient{{Addr: "a@remote.example", Parent: -1}}},
		"Subject: big\n\n"+strings.Repeat("x", 30000)+"\n")
	names, _ := d.Names("new")
	p, _ := d.Claim(names[0])
	m, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Retire(); err != nil {
		t.Fatal(err)
	}
	if err := Recycle(m); err != nil {
		t.Fatal(err)
	}
	queue(t, d, &Envelope{Sender: "me@example.org", Arrival: time.Unix(1700000100, 0), Rcpts: []Recipient{{Addr: "b@remote.example", Parent: -1}}},
		"Subject: small\n\nb\n")
	names, _ = d.Names("new")
	if st, _ := os.Stat(d.Path("new", names[0])); st == nil || st.Size() < 30000 {
		t.Skip("the small message did not take the spare") // renameat2 unsupported here
	}
	list, err := d.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %v %v", list, err)
	}
	var b bytes.Buffer
	WritePostfix(&b, list)
	if out := b.String(); !strings.HasSuffix(out, "\n-- 0 Kbytes in 1 Request.\n") {
		t.Errorf("total counts the spare's old length:\n%s", out)
	}
}
