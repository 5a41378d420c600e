package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/courier"
)

// The room that Message.Reserve makes for a smarthost copy's result
// must still be there when the result comes back. Results recorded
// before it (recordLocal: here a hundred and fifty recipients that the
// aliases discard to /dev/null, whose results plan gives without a
// courier, counted in no room) may not fit on a full disk; the failed
// append must take back what it wrote without freeing the room
// allocated past the journal (a truncation would), or, the disk filled
// by others meanwhile, the smarthost's "sent" could not be recorded
// either, and would be sent again once there was room.
func TestNoJournalRoomLostByFailedAppend(t *testing.T) {
	ta := newTestAgent(t, "")
	state := ta.smallState()
	var aliases strings.Builder
	rcpts := []string{"a@example.com"}
	for k := range 150 {
		fmt.Fprintf(&aliases, "null%d: /dev/null\n", k)
		rcpts = append(rcpts, fmt.Sprintf("null%d@box.example.org", k))
	}
	os.MkdirAll(filepath.Dir(ta.cfg.Aliases), 0o700)
	if err := os.WriteFile(ta.cfg.Aliases, []byte(aliases.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	accepted := 0
	// Other programs write while the smarthost takes the copy: what
	// the disk has free then is theirs.
	fillUp := func() { fillUp(filepath.Join(state, "fill")) }
	relay := ta.smarthost(func(c *courier.Copy) courier.Result {
		fillUp()
		accepted++
		// A long reply, as some servers give: "250 2.6.0 <id>
		// [InternalId=..., Hostname=...] ... Queued mail for delivery".
		return courier.OK("250 2.6.0 queued " + strings.Repeat("x", 400))
	})
	// The message ends a little short of a page, so that the room the
	// queue file was given at commit is past that page.
	ta.queueNearPageEnd(rcpts)
	// The disk fills up.
	fillUp()
	restart := func() *testAgent { return ta.restarted(relay) }
	ta.run()
	for range 2 {
		ta.clock = ta.clock.Add(2 * time.Hour)
		restart().run()
	}
	os.Remove(filepath.Join(state, "fill"))
	var last *testAgent
	for range 2 {
		ta.clock = ta.clock.Add(2 * time.Hour)
		last = restart()
		last.run()
	}
	if accepted != 1 {
		t.Errorf("the smarthost took the copy %d times, want once; first agent's log:\n%s", accepted, ta.logs.String())
	}
	last.empty()
}
