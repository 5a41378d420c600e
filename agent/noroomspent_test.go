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

	"homepost/courier"
	"homepost/forwarder"
	"homepost/outbox"
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
	fillUp := func() {
		f, err := os.OpenFile(filepath.Join(state, "fill"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return
		}
		defer f.Close()
		for {
			if _, err := f.Write(make([]byte, 512)); err != nil {
				return
			}
		}
	}
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
	// The disk fills up.
	fillUp()
	restart := func() *testAgent {
		tb := &testAgent{t: t, home: ta.home}
		tb.Agent = newAgent(ta.cfg, slog.New(slog.NewTextHandler(&tb.logs, nil)))
		tb.now = func() time.Time { return ta.clock }
		tb.couriers[forwarder.Remote] = relay
		return tb
	}
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
