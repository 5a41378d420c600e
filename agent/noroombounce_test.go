package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The same with bounces: eighty local recipients unknown beside a
// command target. Their results are journaled twice (Bouncing with a
// note before the DSN, in one append with the command's result, then
// Bounced), and counted once they spent the room made for the command's:
// on a disk that the command filled, its result went unrecorded, and
// each agent started after ran the command again.
func TestNoJournalRoomSpentByBounces(t *testing.T) {
	ta := newTestAgent(t, "")
	state := ta.smallState()
	var aliases strings.Builder
	runs := filepath.Join(ta.home, "runs")
	hook := filepath.Join(ta.home, "hook")
	os.WriteFile(hook, []byte("#!/bin/sh\ncat >/dev/null\necho run >> "+runs+"\ndd if=/dev/zero of="+filepath.Join(state, "fill2")+" bs=512 2>/dev/null\nexit 0\n"), 0o700)
	fmt.Fprintf(&aliases, "hook: |%s\n", hook)
	rcpts := []string{"hook@box.example.org"}
	for k := range 80 {
		rcpts = append(rcpts, fmt.Sprintf("ghost%d@box.example.org", k))
	}
	os.MkdirAll(filepath.Dir(ta.cfg.Aliases), 0o700)
	if err := os.WriteFile(ta.cfg.Aliases, []byte(aliases.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// The message ends a little short of a page: the results need the
	// room allocated past it.
	ta.queueNearPageEnd(rcpts)
	// The command fills the disk (others would as well).
	restart := func() *testAgent { return ta.restarted(nil) }
	ta.run()
	for range 2 {
		ta.clock = ta.clock.Add(2 * time.Hour)
		restart().run()
	}
	os.Remove(filepath.Join(state, "fill2"))
	for range 2 {
		ta.clock = ta.clock.Add(2 * time.Hour)
		restart().run()
	}
	b, _ := os.ReadFile(runs)
	if n := strings.Count(string(b), "run"); n != 1 {
		t.Errorf("the command ran %d times, want once; first agent's log:\n%s", n, ta.logs.String())
	}
}
