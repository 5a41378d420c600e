package sweep

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
)

// TestPowerLossSnapshotHold checks on a real kernel and file system what
// README.md promises of "homepost queue hold": it answers once the hold
// is asked for durably, so a power loss right after its exit 0 leaves
// the message held, whichever state it was in: being sent to the
// smarthost (the smarthost has its data and has not answered: the hold
// is asked for, outbox/hold/ID, and taken up when the delivery ends),
// waiting behind that delivery (asked for as well), or still in outbox
// new/ while the agent is stopped (the command claims it and records
// the hold itself). Each state is copied right after the command's exit
// 0 and at a random moment while it runs (testenv.Snapshot, as
// TestPowerLossSnapshots does). Each copy is repaired as a boot would
// and given one "homepost agent --once" with a smarthost that answers
// (afterReboot): a message whose hold was acknowledged before the copy
// must not reach it and must be held in that copy's queue; any other
// must be held, or delivered once: never lost, never twice.
func TestPowerLossSnapshotHold(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting a test file system needs root")
	}
	for _, journal := range []bool{false, true} {
		t.Run(fmt.Sprintf("journal=%v", journal), func(t *testing.T) { holdSnapshots(t, journal) })
	}
}

func holdSnapshots(t *testing.T, journal bool) {
	live := testenv.StartSmarthost(t)
	// The smarthost takes the first message's data and does not answer
	// until the test ends: its delivery is in progress throughout.
	gate := make(chan struct{})
	live.OnData(func([]byte) error { <-gate; return nil })
	t.Cleanup(func() { close(gate) })
	w := startOnImage(t, journal, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ndata_timeout = \"10m\"\n", live.Addr), nil)
	e, agent, img, mnt := w.e, w.agent, w.img, w.mnt

	ids := map[string]string{} // recipient → queue ID
	queued := func(rcpt string) {
		t.Helper()
		e.WaitFor(func() bool {
			q := liveQueue(t, e)
			ids[rcpt] = q[rcpt].ID
			return ids[rcpt] != ""
		}, "the message to "+rcpt+" in the queue")
	}
	mailq := func(want string) {
		t.Helper()
		e.WaitFor(func() bool {
			out, _, _ := e.Run(nil, "mailq")
			return strings.Contains(out, want)
		}, "mailq to say "+want)
	}
	e.MustSend("Subject: sending\n\nx\n", "r1@remote.example")
	mailq("(being sent to ")
	queued("r1@remote.example")
	e.MustSend("Subject: waiting\n\ny\n", "r2@remote.example")
	mailq("(waiting for the delivery to ")
	queued("r2@remote.example")

	snaps, heldSeen := 0, 0
	// hold runs "homepost queue hold" for rcpt's message, copies the
	// image at a random moment while it runs and again once it has
	// answered, and checks both copies.
	hold := func(rcpt string) {
		t.Helper()
		cmd := e.Cmd(nil, "homepost", "queue", "hold", ids[rcpt])
		var out testenv.LockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		copyNow := func(what string, acked bool) {
			t.Helper()
			// A stopped agent stays stopped (StopHome).
			thaw := testenv.StopHome(t, e.Home, agent.Process.Pid)
			snap := testenv.Snapshot(t, img)
			thaw()
			snaps++
			if checkHoldSnapshot(t, e, mnt, snap, live.Addr, rcpt, acked, fmt.Sprintf("%s, copy %d (%s)", rcpt, snaps, what)) {
				heldSeen++
			}
		}
		copyNow("while queue hold runs", false)
		select {
		case err := <-exited:
			if err != nil || !strings.Contains(out.String(), "Placed on hold: 1 message") {
				t.Fatalf("queue hold %s: %v:\n%s", ids[rcpt], err, out.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("queue hold %s does not answer:\n%s", ids[rcpt], out.String())
		}
		copyNow("after queue hold answered", true)
	}
	hold("r1@remote.example")
	hold("r2@remote.example")
	// A message still in new/: queued while the agent is stopped.
	testenv.StopHome(t, e.Home, agent.Process.Pid)
	e.MustSend("Subject: new\n\nz\n", "r3@remote.example")
	queued("r3@remote.example")
	hold("r3@remote.example")
	syscall.Kill(agent.Process.Pid, syscall.SIGCONT)
	if heldSeen < 3 {
		t.Errorf("only %d of %d copies had the message held: the acknowledged holds were not all checked", heldSeen, snaps)
	}
	// The running agent took the holds up too: nothing more reached
	// the smarthost but the first message's data, still unanswered.
	time.Sleep(500 * time.Millisecond)
	for _, r := range []string{"r2@remote.example", "r3@remote.example"} {
		if n := live.Asked(r); n != 0 {
			t.Errorf("the running agent offered the held message to %s to the smarthost (%d times)", r, n)
		}
	}
}

// checkHoldSnapshot repairs a copy of the image, runs one agent --once
// on it as after a reboot, with a smarthost that takes everything, and
// checks the message to rcpt: held in the copy's queue and not sent
// when the hold was acknowledged before the copy (acked), else held or
// sent once. It reports whether the message was held.
func checkHoldSnapshot(t *testing.T, e *testenv.Env, mnt, snap, liveAddr, rcpt string, acked bool, what string) bool {
	t.Helper()
	testenv.Repair(t, snap)
	defer os.Remove(snap)
	after := testenv.StartSmarthost(t)
	dir := filepath.Join(filepath.Dir(snap), "fs")
	defer os.RemoveAll(dir)
	stderr := afterReboot(t, e, mnt, snap, dir, [2]string{liveAddr, after.Addr}, nil, what)
	rel, err := filepath.Rel(mnt, e.Home)
	if err != nil {
		t.Fatal(err)
	}
	q := copyQueue(t, testenv.At(t, filepath.Join(dir, rel)))
	held := q[rcpt].Queue == "hold"
	sent := after.Count(rcpt)
	switch {
	case acked && (!held || sent != 0):
		t.Errorf("%s: the hold was acknowledged, yet after the power loss the message is held %v and was sent %d times; queue: %+v\nagent --once:\n%s", what, held, sent, q[rcpt], stderr)
	case !held && sent != 1:
		t.Errorf("%s: the message is neither held nor sent once (sent %d times); queue: %+v\nagent --once:\n%s", what, sent, q[rcpt], stderr)
	case held && sent != 0:
		t.Errorf("%s: the message is held and was sent %d times\nagent --once:\n%s", what, sent, stderr)
	}
	return held
}

// holdEntry is one message of "mailq --json", as far as these tests
// read it.
type holdEntry struct {
	Queue      string `json:"queue_name"`
	ID         string `json:"queue_id"`
	Recipients []struct {
		Address string `json:"address"`
	} `json:"recipients"`
}

// liveQueue reads "mailq --json" in e, by first recipient.
func liveQueue(t *testing.T, e *testenv.Env) map[string]holdEntry {
	t.Helper()
	out, _, _ := e.Run(nil, "mailq", "--json")
	return parseQueue(t, out)
}

// copyQueue reads the queue of a copy of the image (copied out of it,
// as afterReboot leaves it).
func copyQueue(t *testing.T, e *testenv.Env) map[string]holdEntry {
	t.Helper()
	c := exec.Command(filepath.Join(e.Bin, "mailq"), "--json")
	c.Env, c.Dir = e.Vars, "/"
	out, _ := c.Output()
	return parseQueue(t, string(out))
}

func parseQueue(t *testing.T, out string) map[string]holdEntry {
	t.Helper()
	m := map[string]holdEntry{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var q holdEntry
		if err := json.Unmarshal([]byte(l), &q); err != nil {
			t.Fatalf("mailq --json: %v: %s", err, l)
		}
		if len(q.Recipients) > 0 {
			m[q.Recipients[0].Address] = q
		}
	}
	return m
}
