package outbox

import (
	"syscall"
	"testing"
)

// Room that Reserve allocated past the end of a queue file and that its
// results did not use is not kept in a spare: a spare keeps its blocks
// until a later message takes it (and a refill past them keeps them on),
// so that spareMax bounds what sixty-four spares hold. Judged by the
// file's size alone, a small message to many recipients of the
// smarthost kept the room for all their results.
func TestReservedRoomNotKeptInSpare(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Rcpts: []Recipient{{Addr: "far@remote.example", Parent: -1}}}
	queue(t, d, env, "Subject: small\n\nbody\n")
	names, _ := d.Names("new")
	p, err := d.Claim(names[0])
	if err != nil {
		t.Fatal(err)
	}
	m, err := OpenLocked(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Reserve(4 * spareMax); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(m.f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 < 2*spareMax {
		t.Skipf("SKIP: this file system allocated %d bytes for the reserved room", st.Blocks*512)
	}
	if err := m.Remove(); err != nil {
		t.Fatal(err)
	}
	kept, _ := d.Names("tmp")
	for _, n := range kept {
		if err := syscall.Stat(d.Path("tmp", n), &st); err != nil {
			t.Fatal(err)
		}
		if st.Blocks*512 > spareMax {
			t.Errorf("spare %s holds %d bytes of blocks, more than spareMax (%d): size %d", n, st.Blocks*512, spareMax, st.Size)
		}
	}
}
