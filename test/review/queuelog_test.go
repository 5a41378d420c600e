package review

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"

	"homepost/test/testenv"
)

// homepost queue hold, release and delete leave one line per message in
// the agent's log (id=, status=held|released|deleted), as postsuper's
// "placed on hold" / "released from hold" / "removed"; the agent's
// wake-up for them is no configuration reload and is not logged as one.
// With no agent running, the next agent logs them when it starts.
func TestQueueActionsLogged(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	h.Set("later@remote.example", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try later"})
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	e.MustSend("Subject: a\n\nx\n", "later@remote.example")
	e.Once()
	id := queueIDs(t, e)[0]
	// No agent runs: logged by the next one, at its start.
	if _, stderr, code := e.Run(nil, "homepost", "queue", "hold", id); code != 0 {
		t.Fatalf("hold: exit %d: %s", code, stderr)
	}
	if log := e.Once(); !strings.Contains(log, "id="+id+" status=held") {
		t.Errorf("agent --once after queue hold does not log it:\n%s", log)
	}
	c := e.Cmd(nil, "homepost", "agent")
	var log testenv.LockedBuffer
	c.Stderr = &log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	e.WaitFor(func() bool { return strings.Contains(log.String(), "agent started") }, "agent start")
	for _, verb := range []string{"release", "hold", "delete"} {
		if _, stderr, code := e.Run(nil, "homepost", "queue", verb, id); code != 0 {
			t.Fatalf("%s: exit %d: %s", verb, code, stderr)
		}
		want := "id=" + id + " status=" + map[string]string{"release": "released", "hold": "held", "delete": "deleted"}[verb]
		e.WaitFor(func() bool { return strings.Contains(log.String(), want) }, want+" in the agent's log")
	}
	if strings.Contains(log.String(), "reloaded") {
		t.Errorf("the agent logs a reload for queue actions:\n%s", log.String())
	}
}

// queueIDs are the queue IDs that mailq lists.
func queueIDs(t *testing.T, e *testenv.Env) []string {
	t.Helper()
	q, _, _ := e.Run(nil, "mailq")
	var ids []string
	for _, l := range strings.Split(q, "\n") {
		if f := strings.Fields(l); len(f) > 0 && len(f[0]) >= 16 && strings.Trim(f[0], "0123456789ABCDEF*!") == "" {
			ids = append(ids, strings.TrimRight(f[0], "*!"))
		}
	}
	if len(ids) == 0 {
		t.Fatalf("mailq lists no message:\n%s", q)
	}
	return ids
}

// A message deleted while its copy is out to the smarthost: queue
// delete says that the copy may still arrive, the log says so on the
// deleted line, and the end of that delivery logs no "deferred" for a
// message that no longer exists.
func TestQueueDeleteWhileSending(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	hang := make(chan struct{})
	defer close(hang)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go hangAtDot(c, hang)
		}
	}()
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", l.Addr()))
	c := e.Cmd(nil, "homepost", "agent")
	var log testenv.LockedBuffer
	c.Stderr = &log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	e.WaitFor(func() bool { return strings.Contains(log.String(), "agent started") }, "agent start")
	e.MustSend("Subject: qd\n\nx\n", "r1@remote.example")
	var id string
	e.WaitFor(func() bool {
		// Out to the smarthost, not only claimed: mailq says so.
		q, _, _ := e.Run(nil, "mailq")
		if !strings.Contains(q, "(being sent to ") {
			return false
		}
		for _, l := range strings.Split(q, "\n") {
			if f := strings.Fields(l); len(f) > 0 && strings.HasSuffix(f[0], "*") {
				id = strings.TrimSuffix(f[0], "*")
				return true
			}
		}
		return false
	}, "the message being sent")
	out, stderr, code := e.Run(nil, "homepost", "queue", "delete", id)
	if code != 0 || !strings.Contains(out, id+": deleted; a copy being sent to "+l.Addr().String()+" may still arrive") {
		t.Errorf("queue delete of a message being sent: exit %d:\n%s%s", code, out, stderr)
	}
	e.WaitFor(func() bool { return strings.Contains(log.String(), "id="+id+" status=deleted") }, "the deletion in the log")
	c.Process.Signal(syscall.SIGTERM)
	c.Wait()
	if strings.Contains(log.String(), "status=deferred") {
		t.Errorf("a deleted message's delivery is logged deferred:\n%s", log.String())
	}
}

// hangAtDot speaks SMTP up to the end of the data and never answers it.
func hangAtDot(c net.Conn, hang chan struct{}) {
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprint(c, "220 hang.test ESMTP\r\n")
	data := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case data && cmd == ".":
			<-hang
			return
		case data:
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			fmt.Fprint(c, "250 hang.test\r\n")
		case cmd == "DATA":
			data = true
			fmt.Fprint(c, "354 go on\r\n")
		case cmd == "QUIT":
			fmt.Fprint(c, "221 bye\r\n")
			return
		default:
			fmt.Fprint(c, "250 ok\r\n")
		}
	}
}

// A message deleted while its copy is out, which the smarthost then
// takes: the delivery is logged sent, and the queue file that the
// deletion removed already is no error as the delivery ends.
func TestQueueDeleteWhileSendingTaken(t *testing.T) {
	t.Parallel()
	h := startGateHost(t, true)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ndata_timeout = \"5m\"\n", h.l.Addr()))
	log, stop := startLoggedAgent(t, e)
	e.MustSend("Subject: qd\n\nx\n", "r1@remote.example")
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(q, "(being sent to ")
	}, "the message being sent")
	id := queueByRcpt(t, e)["r1@remote.example"].ID
	if out, stderr, code := e.Run(nil, "homepost", "queue", "delete", id); code != 0 {
		t.Fatalf("queue delete: exit %d:\n%s%s", code, out, stderr)
	}
	e.WaitFor(func() bool { return strings.Contains(log.String(), "id="+id+" status=deleted") }, "the deletion in the log")
	h.open()
	e.WaitFor(func() bool { return strings.Contains(log.String(), "status=sent") }, "the delivery logged sent")
	e.WaitFor(func() bool { return strings.Contains(log.String(), "deleted from the queue") }, "the end of the delivery logged")
	stop()
	if strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("the end of the delivery of a deleted message logs an error:\n%s", log.String())
	}
	if n := h.count(h.taken, "r1@remote.example"); n != 1 {
		t.Errorf("the smarthost took %d copies, not 1", n)
	}
}
