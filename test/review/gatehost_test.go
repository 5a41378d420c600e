package review

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
)

// gateHost is a smarthost that takes the data of each message and
// answers its end only once opened: then with 250 (accept) or by
// closing the connection (a hung server that gives up), or with refuse
// when set (before the first message). Once opened, later messages are
// answered at once.
type gateHost struct {
	l      net.Listener
	gate   chan struct{}
	once   sync.Once
	accept bool
	refuse string // the answer instead of 250, such as "550 5.7.1 no"
	mu     sync.Mutex
	rcpts  map[string]int // RCPT TO commands by address
	taken  map[string]int // messages answered 250, by recipient
}

func startGateHost(t *testing.T, accept bool) *gateHost {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &gateHost{l: l, gate: make(chan struct{}), accept: accept, rcpts: map[string]int{}, taken: map[string]int{}}
	t.Cleanup(func() { l.Close(); h.open() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go h.serve(c)
		}
	}()
	return h
}

func (h *gateHost) open() { h.once.Do(func() { close(h.gate) }) }

func (h *gateHost) count(m map[string]int, rcpt string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return m[rcpt]
}

func (h *gateHost) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprint(c, "220 gate.test ESMTP\r\n")
	data := false
	var rcpts []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimSpace(line)
		up := strings.ToUpper(cmd)
		switch {
		case data && cmd == ".":
			data = false
			<-h.gate
			if !h.accept {
				return
			}
			if h.refuse != "" {
				rcpts = nil
				fmt.Fprint(c, h.refuse+"\r\n")
				break
			}
			h.mu.Lock()
			for _, rc := range rcpts {
				h.taken[rc]++
			}
			h.mu.Unlock()
			rcpts = nil
			fmt.Fprint(c, "250 2.0.0 taken\r\n")
		case data:
		case strings.HasPrefix(up, "EHLO"), strings.HasPrefix(up, "HELO"):
			fmt.Fprint(c, "250 gate.test\r\n")
		case strings.HasPrefix(up, "RCPT TO:"):
			rc := strings.Trim(strings.TrimSpace(cmd[len("RCPT TO:"):]), "<>")
			h.mu.Lock()
			h.rcpts[rc]++
			h.mu.Unlock()
			rcpts = append(rcpts, rc)
			fmt.Fprint(c, "250 ok\r\n")
		case up == "DATA":
			data = true
			fmt.Fprint(c, "354 go on\r\n")
		case up == "QUIT":
			fmt.Fprint(c, "221 bye\r\n")
			return
		default:
			fmt.Fprint(c, "250 ok\r\n")
		}
	}
}

// queueEntry is one line of mailq --json.
type queueEntry struct {
	Queue      string `json:"queue_name"`
	ID         string `json:"queue_id"`
	Recipients []struct {
		Address  string `json:"address"`
		Reason   string `json:"delay_reason"`
		Attempts int    `json:"attempts"`
		Next     int64  `json:"next_attempt"`
	} `json:"recipients"`
}

// queueByRcpt reads mailq --json, by the first recipient of each message.
func queueByRcpt(t *testing.T, e *testenv.Env) map[string]queueEntry {
	t.Helper()
	out, _, _ := e.Run(nil, "mailq", "--json")
	m := map[string]queueEntry{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var q queueEntry
		if err := json.Unmarshal([]byte(l), &q); err != nil {
			t.Fatalf("mailq --json: %v: %s", err, l)
		}
		if len(q.Recipients) > 0 {
			m[q.Recipients[0].Address] = q
		}
	}
	return m
}

// startLoggedAgent runs the agent and returns it with its log.
func startLoggedAgent(t *testing.T, e *testenv.Env) (*testenv.LockedBuffer, func()) {
	c := e.Cmd(nil, "homepost", "agent")
	log := &testenv.LockedBuffer{}
	c.Stderr = log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	stop := func() {
		if !done {
			done = true
			c.Process.Signal(syscall.SIGTERM)
			c.Wait()
		}
	}
	t.Cleanup(func() {
		if !done {
			c.Process.Kill()
			c.Wait()
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	})
	e.WaitFor(func() bool { return strings.Contains(log.String(), "agent started") }, "agent start")
	return log, stop
}

// sendingAndWaiting queues one message to r1, which goes out and hangs
// at the end of its data, and one to r2, which waits behind it, and
// returns their queue IDs.
func sendingAndWaiting(t *testing.T, e *testenv.Env) (m1, w1 string) {
	t.Helper()
	e.MustSend("Subject: m1\n\nx\n", "r1@remote.example")
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(q, "(being sent to ")
	}, "the first message being sent")
	e.MustSend("Subject: w1\n\ny\n", "r2@remote.example")
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(q, "(waiting for the delivery to ")
	}, "the second message waiting behind the first")
	q := queueByRcpt(t, e)
	return q["r1@remote.example"].ID, q["r2@remote.example"].ID
}

// An agent stopped while a message waited behind a delivery to the
// smarthost in progress counts no attempt for it (it was never offered),
// and the next agent sends it as it starts, not after a retry's wait,
// as Postfix re-scans its active queue at start. The message whose
// data was out without an answer is sent again, as documented.
func TestRestartSendsUntriedAtOnce(t *testing.T) {
	t.Parallel()
	h := startGateHost(t, true)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ndata_timeout = \"5m\"\n", h.l.Addr()))
	_, stop := startLoggedAgent(t, e)
	_, _ = sendingAndWaiting(t, e)
	stop()
	q := queueByRcpt(t, e)
	w := q["r2@remote.example"]
	if len(w.Recipients) != 1 || w.Recipients[0].Attempts != 0 || w.Recipients[0].Next != 0 {
		t.Errorf("the message never offered to the smarthost has an attempt or a retry time after the stop: %+v", w)
	}
	if m := q["r1@remote.example"]; len(m.Recipients) != 1 || m.Recipients[0].Attempts != 1 {
		t.Errorf("the message whose data was out is not recorded as tried: %+v", m)
	}
	h.open()
	startLoggedAgent(t, e)
	deadline := time.Now().Add(20 * time.Second)
	for h.count(h.taken, "r2@remote.example") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the message never offered is not sent within 20 s of the new agent's start: %+v", queueByRcpt(t, e))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := h.count(h.taken, "r2@remote.example"); n != 1 {
		t.Errorf("sent %d times", n)
	}
}
