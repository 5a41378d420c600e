package agent

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"homepost/courier"
	"homepost/forwarder"
	"homepost/outbox"
)

// smallState mounts a 256 KiB tmpfs on ta's state directory (the test
// is skipped where none can be mounted) and makes the outbox in it; it
// returns the directory, unmounted when the test ends.
func (ta *testAgent) smallState() string {
	ta.t.Helper()
	state := filepath.Join(ta.home, "state")
	os.MkdirAll(state, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", state).CombinedOutput(); err != nil {
		ta.t.Skipf("SKIP: cannot mount a small tmpfs here: %v %s", err, out)
	}
	ta.t.Cleanup(func() { exec.Command("umount", "-l", state).Run() })
	if err := ta.box.Init(); err != nil {
		ta.t.Fatal(err)
	}
	return state
}

// fillUp appends to the file path until its file system takes no more.
func fillUp(path string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
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

// restarted is a new agent on ta's configuration and clock, as after a
// restart; relay, when not nil, is its smarthost.
func (ta *testAgent) restarted(relay courier.Courier) *testAgent {
	tb := &testAgent{t: ta.t, home: ta.home}
	tb.Agent = newAgent(ta.cfg, slog.New(slog.NewTextHandler(&tb.logs, nil)))
	tb.now = func() time.Time { return ta.clock }
	if relay != nil {
		tb.couriers[forwarder.Remote] = relay
	}
	return tb
}

// queueNearPageEnd queues a message from alice to rcpts whose queue file
// ends a little short of a page, so that its results need the room
// allocated past it (the test is skipped where it cannot be made so).
func (ta *testAgent) queueNearPageEnd(rcpts []string) {
	ta.t.Helper()
	queue := func(pad int) string {
		env := &outbox.Envelope{Sender: "alice@box.example.org", Arrival: ta.clock}
		for _, r := range rcpts {
			env.Rcpts = append(env.Rcpts, outbox.Recipient{Addr: r, Parent: -1})
		}
		dr, err := ta.box.Create(env, "box")
		if err != nil {
			ta.t.Fatal(err)
		}
		dr.WriteString("Subject: test\n\n" + strings.Repeat("y", pad) + "\n")
		if err := dr.Commit(); err != nil {
			ta.t.Fatal(err)
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
		ta.t.Skipf("SKIP: the queue file ends at %d of its page", st.Size()%4096)
	}
}
