package sweep

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// TestListenerSweep kills "homepost agent", serving its SMTP listener,
// at every call of every swept system call while a client submits a few
// messages over its Unix socket, one larger than 100 KB; the agent is
// stopped with SIGTERM when the client is done, if it was not killed.
// After each run a clean "agent --once" recovers (after a kill) or
// delivers what the stopped agent left queued. A message answered
// 250 must then be stored exactly once and whole; one that was not,
// whole once or not at all; and the outbox must be empty.
func TestListenerSweep(t *testing.T) {
	needKiller(t)
	needPython(t)
	me := testenv.Login(t)
	sc := &scenario{
		name:     "listener",
		listener: true,
		noOutbox: true,
		stores:   func(h string) []store { return []store{{"maildir", filepath.Join(h, "Maildir")}} },
		msgs:     msgs("ls", 3, []string{me + "@testhost.example"}, map[int]int{1: 120_000}),
	}
	sweepEach(t, sc.name, func(t *testing.T, sys string) int { return sweepCall(t, sc, sys) })
}

// serve runs the agent under the killer, killed at the nth call of sys,
// while a client submits the scenario's messages, then stops it with
// SIGTERM. It returns the run's outcome and the messages answered 250.
func (w *world) serve(sys string, n int) (outcome, map[string]bool) {
	term, wait := w.startKill(nil, sys, n, "homepost", "agent")
	var o outcome
	exited := make(chan struct{})
	go func() {
		o = wait()
		close(exited)
	}()
	acked, err := w.submit(exited)
	term()
	<-exited
	if err != nil && o.err == nil && !o.killed {
		o.err = err // the agent lived, yet the client failed
	}
	return o, acked
}

// submit sends the scenario's messages over the listener's Unix socket,
// one transaction each, as soon as the socket answers, and returns the
// messages answered 250. It gives up when the agent has exited; the
// error says why a client of a live agent did not get every 250.
func (w *world) submit(exited <-chan struct{}) (map[string]bool, error) {
	acked := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	var c net.Conn
	for {
		var err error
		if c, err = net.Dial("unix", w.socket); err == nil {
			break
		}
		select {
		case <-exited:
			return acked, nil
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return acked, fmt.Errorf("the listener never answered: %v", err)
		}
	}
	defer c.Close()
	c.SetDeadline(deadline)
	r := bufio.NewReader(c)
	reply := func() string {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "(" + err.Error() + ")"
			}
			if len(line) < 4 || line[3] != '-' {
				return strings.TrimSpace(line)
			}
		}
	}
	cmd := func(line, want string) error {
		if line != "" {
			fmt.Fprintf(c, "%s\r\n", line)
		}
		if got := reply(); !strings.HasPrefix(got, want) {
			return fmt.Errorf("%q: %s", line, got)
		}
		return nil
	}
	if err := cmd("", "220"); err != nil {
		return acked, err
	}
	if err := cmd("EHLO sweep.test", "250"); err != nil {
		return acked, err
	}
	for _, m := range w.sc.msgs {
		for _, l := range [][2]string{{"MAIL FROM:<sweep@example.org>", "250"}, {"RCPT TO:<" + m.rcpts[0] + ">", "250"}, {"DATA", "354"}} {
			if err := cmd(l[0], l[1]); err != nil {
				return acked, err
			}
		}
		// No line of the message starts with a dot: nothing to stuff.
		c.Write([]byte(strings.ReplaceAll(m.text(), "\n", "\r\n") + ".\r\n"))
		if err := cmd("", "250"); err != nil {
			return acked, err
		}
		acked[m.msgID()] = true
	}
	return acked, cmd("QUIT", "221")
}

// onceIfAcked lists what is wrong in a store after a listener's crash:
// a message answered 250 must be there once and whole, one that was not
// once and whole or not at all; none cut off.
func onceIfAcked(msgs []message, acked map[string]bool, r readResult) []string {
	var bad []string
	for _, st := range r.Stores {
		bad = append(bad, prefixAll(st.Path+": ", st.Errors)...)
		for _, m := range msgs {
			id := m.msgID()
			if n := st.Whole[id]; n > 1 || (acked[id] && n != 1) {
				bad = append(bad, fmt.Sprintf("%s: %s stored whole %d times (answered 250: %v)", st.Path, id, n, acked[id]))
			}
			if n := st.Torn[id]; n != 0 {
				bad = append(bad, fmt.Sprintf("%s: %s stored cut off %d times", st.Path, id, n))
			}
		}
	}
	sort.Strings(bad)
	return bad
}
