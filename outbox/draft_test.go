package outbox

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

// A draft reads back byte for byte and leaves no old byte of the spare
// it writes over, whatever its size against the buffer's (inside it, at
// its edge, across it, many times it), however the message is handed to
// it (Write and WriteString in pieces of any size), sealed or not, over
// a spare shorter or longer than the message.
func TestDraftSizes(t *testing.T) {
	env := &Envelope{Sender: "a@example.org", Rcpts: []Recipient{{Addr: "bob", Parent: -1}}}
	probe, _, _ := appendEnvelope(nil, env, true)
	hdr := len(probe)
	sizes := []int{0, 1, 1000, draftBuffer - hdr - 1, draftBuffer - hdr, draftBuffer - hdr + 1, draftBuffer, 3*draftBuffer + 17}
	olds := []int{0, 100, 5000, draftBuffer + 10, 200 << 10}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sealed := range []bool{false, true} {
		for _, size := range sizes {
			for _, old := range olds {
				t.Run(fmt.Sprintf("sealed=%v/size=%d/old=%d", sealed, size, old), func(t *testing.T) {
					d := Dir(t.TempDir())
					if err := d.Init(); err != nil {
						t.Fatal(err)
					}
					if old > 0 {
						os.WriteFile(d.Path("tmp", spareName(0)), bytes.Repeat([]byte("OLD!"), old/4+1), 0o600)
					}
					msg := make([]byte, size)
					for i := range msg {
						msg[i] = "abcdefgh\n"[rng.IntN(9)]
					}
					e := *env
					var dr *Draft
					var err error
					if sealed {
						dr, err = d.CreateSealed(&e, "host.example")
					} else {
						dr, err = d.Create(&e, "host.example")
					}
					if err != nil {
						t.Fatal(err)
					}
					for rest := msg; len(rest) > 0; {
						k := min(len(rest), 1+rng.IntN(3*draftBuffer/2))
						if rng.IntN(2) == 0 {
							_, err = dr.Write(rest[:k])
						} else {
							_, err = dr.WriteString(string(rest[:k]))
						}
						if err != nil {
							t.Fatal(err)
						}
						rest = rest[k:]
					}
					if err := dr.Commit(); err != nil {
						t.Fatal(err)
					}
					p, err := d.Find(dr.ID())
					if err != nil {
						t.Fatal(err)
					}
					raw, _ := os.ReadFile(p)
					if bytes.Contains(raw, []byte("OLD!")) {
						t.Fatal("old bytes of the spare in the queue file")
					}
					m, err := OpenLocked(p) // checks a seal
					if err != nil {
						t.Fatal(err)
					}
					defer m.Close()
					body, _ := io.ReadAll(m.Body())
					if !bytes.Equal(body, msg) || m.Size != int64(size) {
						t.Fatalf("read back %d bytes (size %d), wrote %d", len(body), m.Size, size)
					}
					if tail := raw[m.dataOff+int64(size):]; strings.Trim(string(tail), "\x00") != "" {
						t.Fatalf("past the message: %q", tail)
					}
				})
			}
		}
	}
}

// A small queue file is read whole when it is opened, in one read:
// its message comes from memory after that (bytes written over the file
// meanwhile do not show), and its journal is read from the same bytes.
// A large one is read from the file.
func TestOpenReadsSmallFileWhole(t *testing.T) {
	for _, size := range []int{1000, 2 * wholeMax} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			d := Dir(t.TempDir())
			env := &Envelope{Rcpts: []Recipient{{Addr: "bob", Parent: -1}}}
			msg := strings.Repeat("m", size)
			id := queue(t, d, env, msg)
			p, _ := d.Find(id)
			m, err := OpenLocked(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Append(StateRecord(0, Deferred, 1, time.Now(), time.Now(), "4.0.0 later")); err != nil {
				t.Fatal(err)
			}
			m.Close()
			m, err = OpenLocked(p)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Env.Rcpts[0].Status != Deferred || m.JournalErr != nil {
				t.Fatalf("journal read back as %v, %v", m.Env.Rcpts[0].Status, m.JournalErr)
			}
			f, _ := os.OpenFile(p, os.O_WRONLY, 0)
			f.WriteAt(bytes.Repeat([]byte("X"), size), m.dataOff)
			f.Close()
			body, _ := io.ReadAll(m.Body())
			fromMemory := string(body) == msg
			if want := size <= wholeMax; fromMemory != want {
				t.Errorf("message of %d bytes read from memory: %v, want %v", size, fromMemory, want)
			}
		})
	}
}
