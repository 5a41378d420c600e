package review

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
)

// homepost queue hold acts at once on a message being sent to the
// smarthost and on one waiting behind that delivery, as postsuper -h
// does: the waiting one is held and never sent; the one being sent is
// held as its delivery ends without delivering it. Both are released
// and delivered once.
func TestQueueHoldWhileSending(t *testing.T) {
	t.Parallel()
	h := startGateHost(t, false)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ndata_timeout = \"5m\"\n", h.l.Addr()))
	_, stop := startLoggedAgent(t, e)
	m1, w1 := sendingAndWaiting(t, e)
	for _, id := range []string{m1, w1} {
		start := time.Now()
		out, stderr, code := e.Run(nil, "homepost", "queue", "hold", id)
		if took := time.Since(start); code != 0 || took > 10*time.Second {
			t.Errorf("queue hold %s: exit %d after %v:\n%s%s", id, code, took.Round(time.Second), out, stderr)
		}
		if !strings.Contains(out, "Placed on hold: 1 message") {
			t.Errorf("queue hold %s:\n%s%s", id, out, stderr)
		}
		if id == m1 && !strings.Contains(out, m1+": will be held when the delivery in progress to "+h.l.Addr().String()+" ends") {
			t.Errorf("queue hold of the message being sent does not say when it takes effect:\n%s", out)
		}
	}
	q := queueByRcpt(t, e)
	if q["r1@remote.example"].Queue != "hold" || q["r2@remote.example"].Queue != "hold" {
		t.Errorf("mailq does not show both held: %+v", q)
	}
	// The server gives up on the first: it is deferred, and held.
	h.open()
	e.WaitFor(func() bool {
		_, err := os.Lstat(e.Path(".local", "state", "homepost", "outbox", "hold", m1))
		return os.IsNotExist(err)
	}, "the hold recorded as the delivery ended")
	time.Sleep(2 * time.Second)
	if n := h.count(h.rcpts, "r2@remote.example"); n != 0 {
		t.Errorf("the message held while it waited was offered to the smarthost %d times", n)
	}
	q = queueByRcpt(t, e)
	if q["r1@remote.example"].Queue != "hold" || q["r2@remote.example"].Queue != "hold" {
		t.Errorf("after the delivery in progress ended, mailq does not show both held: %+v", q)
	}
	if a := q["r2@remote.example"].Recipients[0].Attempts; a != 0 {
		t.Errorf("the message held while it waited counts %d attempts", a)
	}
	// Held in the journal, not by the agent's memory: a new agent
	// delivers nothing of them either.
	stop()
	_, stop = startLoggedAgent(t, e)
	time.Sleep(2 * time.Second)
	if n := h.count(h.taken, "r1@remote.example") + h.count(h.taken, "r2@remote.example"); n != 0 {
		t.Errorf("held, yet %d delivered", n)
	}
	stop()
}

// A hold asked for a message being sent that the smarthost then takes,
// or refuses for good (5xx), holds nothing: that delivery finishes the
// message, which is delivered and gone, or bounces, and the agent's log
// says that the hold did not take effect. The command and mailq said it
// could.
func TestQueueHoldWhileSendingFinished(t *testing.T) {
	for name, refuse := range map[string]string{"delivered": "", "bounced": "550 5.7.1 not wanted"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := startGateHost(t, true)
			h.refuse = refuse
			e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ndata_timeout = \"5m\"\n", h.l.Addr()))
			log, _ := startLoggedAgent(t, e)
			e.MustSend("Subject: m1\n\nx\n", "r1@remote.example")
			e.WaitFor(func() bool {
				q, _, _ := e.Run(nil, "mailq")
				return strings.Contains(q, "(being sent to ")
			}, "the message being sent")
			id := queueByRcpt(t, e)["r1@remote.example"].ID
			out, stderr, code := e.Run(nil, "homepost", "queue", "hold", id)
			want := id + ": will be held when the delivery in progress to " + h.l.Addr().String() + " ends, unless it delivers or bounces the message\n"
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("queue hold: exit %d:\n%s%s", code, out, stderr)
			}
			if q := queueByRcpt(t, e)["r1@remote.example"]; len(q.Recipients) != 1 || !strings.HasSuffix(q.Recipients[0].Reason, "; held when this delivery ends, unless it delivers or bounces the message") {
				t.Errorf("mailq of the message being sent, held: %+v", q)
			}
			h.open()
			e.WaitFor(func() bool { return strings.Contains(log.String(), "id="+id+" status=\"not held\"") }, "the log saying the hold did not take effect")
			// The line is logged as the results are recorded, right
			// before the queue file is removed.
			e.WaitFor(func() bool { return len(queueByRcpt(t, e)) == 0 }, "the queue to be empty")
			if refuse != "" {
				if !strings.Contains(log.String(), "id="+id+" from=") || !strings.Contains(log.String(), "status=bounced") {
					t.Errorf("the refused message is not logged bounced:\n%s", log.String())
				}
			} else if n := h.count(h.taken, "r1@remote.example"); n != 1 {
				t.Errorf("the smarthost took %d copies, not 1", n)
			}
			if _, err := os.Lstat(e.Path(".local", "state", "homepost", "outbox", "hold", id)); !os.IsNotExist(err) {
				t.Errorf("the request for the hold is left behind: %v", err)
			}
		})
	}
}

// A message held while it waited is released and delivered once; the
// release of a hold asked for and not yet recorded is at once too.
func TestQueueReleaseAskedHold(t *testing.T) {
	t.Parallel()
	h := startGateHost(t, true)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ndata_timeout = \"5m\"\n", h.l.Addr()))
	startLoggedAgent(t, e)
	_, w1 := sendingAndWaiting(t, e)
	if out, stderr, code := e.Run(nil, "homepost", "queue", "hold", w1); code != 0 {
		t.Fatalf("hold: exit %d:\n%s%s", code, out, stderr)
	}
	start := time.Now()
	out, stderr, code := e.Run(nil, "homepost", "queue", "release", w1)
	if code != 0 || !strings.Contains(out, "Released from hold: 1 message") || time.Since(start) > 10*time.Second {
		t.Errorf("release: exit %d after %v:\n%s%s", code, time.Since(start).Round(time.Second), out, stderr)
	}
	h.open()
	e.WaitFor(func() bool { return len(queueByRcpt(t, e)) == 0 }, "both delivered")
	if a, b := h.count(h.taken, "r1@remote.example"), h.count(h.taken, "r2@remote.example"); a != 1 || b != 1 {
		t.Errorf("delivered %d and %d times, not once each", a, b)
	}
}

// After queue delete of the message being sent, mail waiting behind its
// delivery (whose copy may still be taken) says what it waits for.
func TestWaitingBehindDeleted(t *testing.T) {
	t.Parallel()
	h := startGateHost(t, true)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ndata_timeout = \"5m\"\n", h.l.Addr()))
	startLoggedAgent(t, e)
	m1, _ := sendingAndWaiting(t, e)
	if out, stderr, code := e.Run(nil, "homepost", "queue", "delete", m1); code != 0 {
		t.Fatalf("delete: exit %d:\n%s%s", code, out, stderr)
	}
	want := "of a message deleted from the queue whose copy may still arrive"
	if q := queueByRcpt(t, e)["r2@remote.example"]; len(q.Recipients) != 1 || !strings.Contains(q.Recipients[0].Reason, want) {
		t.Errorf("the message waiting behind a deleted one: %+v", q)
	}
	h.open()
	e.WaitFor(func() bool { return len(queueByRcpt(t, e)) == 0 }, "the waiting message delivered")
}

// A message held while it waited behind a delivery to the smarthost,
// and released while the rest of its batch is being sent, is released:
// it is delivered once that delivery ends, not held by the request that
// the release removed.
func TestQueueReleaseWhileHeldBack(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	stalls := map[string]chan struct{}{"m1": make(chan struct{}), "w2": make(chan struct{})}
	arrived := make(chan string, 2)
	h.OnData(func(b []byte) error {
		for subject, ch := range stalls {
			if strings.Contains(string(b), "Subject: "+subject+"\r\n") {
				arrived <- subject
				select {
				case <-ch:
				case <-time.After(30 * time.Second):
				}
			}
		}
		return nil
	})
	defer func() {
		for _, ch := range stalls {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	}()
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	startLoggedAgent(t, e)
	e.MustSend("Subject: m1\n\nx\n", "r1@remote.example")
	if got := <-arrived; got != "m1" {
		t.Fatalf("the smarthost got %s first", got)
	}
	// Both queued while the agent is stopped: one batch behind m1.
	pid := e.LockHolder()
	syscall.Kill(pid, syscall.SIGSTOP)
	e.MustSend("Subject: w1\n\ny\n", "r2@remote.example")
	e.MustSend("Subject: w2\n\nz\n", "r3@remote.example")
	syscall.Kill(pid, syscall.SIGCONT)
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Count(q, "(waiting for the delivery to ") == 2
	}, "both waiting behind the first")
	w1 := queueByRcpt(t, e)["r2@remote.example"].ID
	if out, stderr, code := e.Run(nil, "homepost", "queue", "hold", w1); code != 0 {
		t.Fatalf("hold: exit %d:\n%s%s", code, out, stderr)
	}
	close(stalls["m1"])
	if got := <-arrived; got != "w2" {
		t.Fatalf("the smarthost got %s after m1", got)
	}
	// w1 was held back as its batch began; w2 is out.
	out, stderr, code := e.Run(nil, "homepost", "queue", "release", w1)
	if code != 0 || !strings.Contains(out, "Released from hold: 1 message") {
		t.Fatalf("release: exit %d:\n%s%s", code, out, stderr)
	}
	close(stalls["w2"])
	e.WaitFor(func() bool { return len(queueByRcpt(t, e)) == 0 }, "every message delivered, the released one too")
	for _, r := range []string{"r1@remote.example", "r2@remote.example", "r3@remote.example"} {
		if n := h.Count(r); n != 1 {
			t.Errorf("%s: %d copies, not 1", r, n)
		}
	}
}
