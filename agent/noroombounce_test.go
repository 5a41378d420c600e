package agent

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/outbox"
)

// The same with bounces: eighty local recipients unknown beside a
// command target. Their results are journaled twice (Bouncing with a
// note before the DSN, in one append with the command's result, then
// Bounced), and counted once they spent the room made for the command's:
// on a disk that the command filled, its result went unrecorded, and
// each agent started after ran the command again.
func TestNoJournalRoomSpentByBounces(t *testing.T) {
	ta := newTestAgent(t, "")
	state := filepath.Join(ta.home, "state")
	os.MkdirAll(state, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", state).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot mount a small tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", state).Run()
	if err := ta.box.Init(); err != nil {
		t.Fatal(err)
	}
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
	queue := func(pad int) string {
		env := &outbox.Envelope{Sender: "alice@box.example.org", Arrival: ta.clock}
		for _, r := range rcpts {
			env.Rcpts = append(env.Rcpts, outbox.Recipient{Addr: r, Parent: -1})
		}
		dr, err := ta.box.Create(env, "box")
		if err != nil {
			t.Fatal(err)
		}
		dr.WriteString("Subject: test\n\n" + strings.Repeat("y", pad) + "\n")
		if err := dr.Commit(); err != nil {
			t.Fatal(err)
		}
		names, _ := ta.box.Names("new")
		return ta.box.Path("new", names[0])
	}
	p := queue(0)
	st, _ := os.Stat(p)
	os.Remove(p)
	p = queue(int((4096 + 4040 - st.Size()%4096) % 4096))
	st, _ = os.Stat(p)
	if st.Size()%4096 < 3900 {
		t.Skipf("SKIP: the queue file ends at %d of its page", st.Size()%4096)
	}
	// The command fills the disk (others would as well).
	restart := func() *testAgent {
		tb := &testAgent{t: t, home: ta.home}
		tb.Agent = newAgent(ta.cfg, slog.New(slog.NewTextHandler(&tb.logs, nil)))
		tb.now = func() time.Time { return ta.clock }
		return tb
	}
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
