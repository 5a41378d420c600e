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

// The room that Message.Reserve makes before a smarthost copy goes out
// must cover the results the message holds already, which are recorded
// before the smarthost's (recordLocal): here seventy recipients that the
// aliases discard to /dev/null, whose results plan gives without a
// courier. Counted in no room, they spent it on a full disk, the
// smarthost's "sent" (beside a deferred copy, so that the file stays)
// could not be recorded, and an agent started once there was room sent
// the copy again.
func TestNoJournalRoomSpentByEarlierResults(t *testing.T) {
	ta := newTestAgent(t, "")
	state := ta.smallState()
	var aliases strings.Builder
	rcpts := []string{"a@example.com", "b@example.com"}
	for k := range 70 {
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
		if c.To == "b@example.com" {
			return courier.Temp("4.2.0", "try later")
		}
		accepted++
		// A long reply, as some servers give: "250 2.6.0 <id>
		// [InternalId=..., Hostname=...] ... Queued mail for delivery".
		return courier.OK("250 2.6.0 queued " + strings.Repeat("x", 400))
	})
	// The message ends a little short of a page: the results need the
	// room allocated past it.
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
}
