package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/courier"
)

// On a full disk, a copy for the smarthost is not handed over when its
// message's journal has no room for the result: an agent started after
// one whose result went unrecorded sent the copy again. Here the
// journal's room is spent by earlier attempts and the file system is
// full; a new agent must not send, and sends once there is room.
func TestNoJournalRoomNoSend(t *testing.T) {
	ta := newTestAgent(t, "")
	state := ta.smallState()
	accept := false
	pad := 300
	relay := ta.smarthost(func(c *courier.Copy) courier.Result {
		if accept && c.To == "a@example.com" {
			return courier.OK("250 2.0.0 queued")
		}
		return courier.Temp("4.2.0", "try later, %s", strings.Repeat("x", pad))
	})
	// a@ is taken once there is room; b@ waits on: the file stays,
	// and a@'s result must go into its journal.
	ta.queue("alice@box.example.org", ta.clock, "a@example.com", "b@example.com")
	ta.run()
	file := func() (size, slack int64) {
		names, _ := ta.box.Names("cur")
		var st syscall.Stat_t
		if len(names) != 1 || syscall.Stat(ta.box.Path("cur", names[0]), &st) != nil {
			t.Fatalf("cur/ holds %v", names)
		}
		return st.Size, st.Blocks*512 - st.Size
	}
	// Attempts until the journal has spent the room made at queueing,
	// the last one sized to leave less room than a "sent" record takes.
	for range 20 {
		ta.clock = ta.clock.Add(2 * time.Hour)
		ta.runDue(context.Background())
	}
	size0, _ := file()
	ta.clock = ta.clock.Add(2 * time.Hour)
	ta.runDue(context.Background())
	size1, slack := file()
	base := (size1 - size0 - 2*int64(pad)) / 2 // a deferral record's own bytes (two a try)
	if slack > 2*base+8 {
		// Two records a try: the first takes most of the room.
		pad = int(slack-2*base-8) / 2
		ta.clock = ta.clock.Add(2 * time.Hour)
		ta.runDue(context.Background())
	}
	if _, slack := file(); slack >= 40 {
		t.Skipf("SKIP: %d bytes of room left in the journal's last block", slack)
	}
	tries := len(relay.calls)
	// The disk fills up.
	fillUp(filepath.Join(state, "fill"))
	// Agents started one after the other, as after restarts, the disk
	// still full: the smarthost takes the copy at most once.
	accept = true
	accepted := func() int {
		n := 0
		for _, call := range relay.calls[tries:] {
			for _, c := range call {
				if c.To == "a@example.com" {
					n++
				}
			}
		}
		return n
	}
	restart := func() *testAgent { return ta.restarted(relay) }
	for range 3 {
		ta.clock = ta.clock.Add(2 * time.Hour)
		restart().run()
	}
	if n := accepted(); n > 1 {
		t.Fatalf("the smarthost took the copy %d times over three restarts on a full disk", n)
	}
	// Room again: delivered, still once.
	os.Remove(filepath.Join(state, "fill"))
	for range 2 {
		ta.clock = ta.clock.Add(2 * time.Hour)
		restart().run()
	}
	if n := accepted(); n != 1 {
		t.Errorf("the smarthost took the copy %d times, want once", n)
	}
}
