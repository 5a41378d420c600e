package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/agentlock"
	"homepost/test/testenv"
)

// Remote mail leaves through the smarthost; a 4xx defers (mailq says
// what the host said), flush retries only what is deferred, a 5xx
// bounces into the store, and many messages share one connection.
func TestRelayQueue(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\nfrom = \"me@example.org\"\n", h.Addr))
	h.Set("later@remote.example", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"})
	h.Set("nobody@remote.example", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	e.MustSend("To: ok@remote.example, later@remote.example\nBcc: hidden@remote.example\nSubject: mixed\n\nbody\n", "-t")
	e.MustSend("Subject: bounce me\n\nbody\n", "nobody@remote.example")
	e.Once()
	if h.Count("ok@remote.example") != 1 || h.Count("hidden@remote.example") != 1 {
		t.Fatalf("smarthost got ok: %d, hidden: %d", h.Count("ok@remote.example"), h.Count("hidden@remote.example"))
	}
	if msg := h.Got("ok@remote.example")[0]; strings.Contains(msg, "hidden@") || strings.Contains(msg, "Bcc") ||
		!strings.Contains(msg, "From: me@example.org") && !strings.Contains(msg, "<me@example.org>") {
		t.Errorf("relayed copy:\n%s", msg)
	}
	q, _, _ := e.Run(nil, "mailq")
	if !strings.Contains(q, "later@remote.example") || strings.Contains(q, "ok@remote.example") ||
		!strings.Contains(q, "451") || !strings.Contains(q, "try again later") || strings.Contains(q, "nobody@") {
		t.Errorf("mailq:\n%s", q)
	}
	js, _, _ := e.Run(nil, "mailq", "--json")
	if !strings.Contains(js, `"address":"later@remote.example"`) || !strings.Contains(js, `"queue_name":"deferred"`) {
		t.Errorf("mailq --json:\n%s", js)
	}
	if n := testenv.Files(e.Path("Maildir", "new")); len(n) != 1 {
		t.Fatalf("want the DSN for nobody@ in the store, got %v", n)
	}
	// The host recovers; flush retries now, and only the deferred one.
	h.Set("later@remote.example", nil)
	if _, stderr, code := e.Run(nil, "homepost", "flush"); code != 0 {
		t.Fatalf("flush: %d %s", code, stderr)
	}
	if h.Count("later@remote.example") != 1 || h.Count("ok@remote.example") != 1 {
		t.Errorf("after flush: later %d, ok %d", h.Count("later@remote.example"), h.Count("ok@remote.example"))
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq after flush:\n%s", q)
	}

	// Many messages due together share one connection.
	before := h.Conns()
	for i := range 20 {
		e.MustSend(fmt.Sprintf("Subject: batch %d\n\nb\n", i), "many@remote.example")
	}
	e.Once()
	if h.Count("many@remote.example") != 20 {
		t.Fatalf("batch: %d delivered", h.Count("many@remote.example"))
	}
	if c := h.Conns() - before; c != 1 {
		t.Errorf("20 messages used %d connections, want 1", c)
	}
}

// With the agent running, a deferred message waits on one timer and a
// flush (SIGUSR1 through homepost flush) sends it at once.
func TestRunningAgentFlush(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	h.Set("x@remote.example", &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "busy"})
	e.StartAgent()
	e.MustSend("Subject: s\n\nb\n", "x@remote.example")
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(q, "busy")
	}, "the deferral")
	h.Set("x@remote.example", nil)
	start := time.Now()
	e.Run(nil, "homepost", "flush")
	e.WaitFor(func() bool { return h.Count("x@remote.example") == 1 }, "delivery after flush")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("flush took %v", d)
	}
}

// Where no agent runs, sendmail starts a background delivery that stays
// while mail is deferred (so that it is retried without a login), obeys
// flush, gives way to a daemon that starts, and exits once the queue is
// empty.
func TestBackgroundDeliveryWithoutAgent(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	e.DeliverWithoutAgent()
	h.Set("x@remote.example", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"})
	e.MustSend("Subject: s\n\nb\n", "x@remote.example")
	holder := e.LockHolder
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(q, "later")
	}, "the deferral")
	if holder() == 0 {
		t.Fatal("no background delivery stays for the deferred message")
	}
	// flush reaches it.
	h.Set("x@remote.example", nil)
	e.Run(nil, "homepost", "flush")
	e.WaitFor(func() bool { return h.Count("x@remote.example") == 1 }, "delivery after flush")
	e.WaitFor(func() bool { return holder() == 0 }, "the background delivery to exit on an empty queue")

	// A daemon that starts makes a lingering background delivery give way.
	h.Set("y@remote.example", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"})
	e.MustSend("Subject: s\n\nb\n", "y@remote.example")
	e.WaitFor(func() bool { return holder() != 0 }, "a background delivery")
	bg := holder()
	e.StartAgent()
	e.WaitFor(func() bool { return holder() != 0 && holder() != bg }, "the daemon to take the lock")
}

// The background delivery that sendmail starts may stay for days while
// mail is deferred: it must not keep what its caller had open (a pipe
// that a shell's $(...) reads until every writer has closed it) nor the
// directory it was started from (which then cannot be unmounted).
func TestBackgroundDeliveryLetsGoOfCaller(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	e.DeliverWithoutAgent()
	h.Set("x@remote.example", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"})

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cwd := t.TempDir()
	c := e.Cmd([]byte("Subject: s\n\nb\n"), "sendmail", "x@remote.example")
	c.Dir = cwd
	c.ExtraFiles = []*os.File{pw} // fd 3 of sendmail, as a shell passes it
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("sendmail: %v %s", err, out)
	}
	pw.Close()
	lock := e.Path(".local", "state", "homepost", "agent.lock")
	var pid int
	e.WaitFor(func() bool {
		var running bool
		pid, running = agentlock.Running(lock)
		return running && pid > 0
	}, "the background delivery")
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(q, "later")
	}, "the deferral")

	// Every writer gone but the background delivery: the read ends.
	pr.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := pr.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
		t.Errorf("the caller's pipe stays open in the background delivery (read %d, %v)", n, err)
	}
	if dir, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || dir != e.Home {
		t.Errorf("the background delivery works in %q (%v), want the HOME %s", dir, err, e.Home)
	}
	h.Set("x@remote.example", nil)
	e.Run(nil, "homepost", "flush")
	e.WaitFor(func() bool { return h.Count("x@remote.example") == 1 }, "delivery after flush")
}

// With the outbox configured elsewhere, the state directory (where the
// background delivery's log and lock live) may not exist yet: sendmail
// makes it rather than silently starting nothing.
func TestBackgroundDeliveryMakesStateDir(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "outbox = \"~/q/outbox\"\n")
	e.DeliverWithoutAgent()
	e.MustSend("Subject: s\n\nb\n", "root")
	e.WaitFor(func() bool { return len(testenv.Files(e.Path("Maildir", "new"))) == 1 }, "the background delivery")
}

// To a smarthost that does not offer SMTPUTF8, a recipient in an
// internationalized domain goes with the domain in A-labels, and the
// log names the address as given with the form sent; a recipient whose
// local part is in UTF-8 bounces with 5.6.7, and the DSN names each
// bounced address as given, a refusal's diagnostic being the reply
// alone. Both bounced.
func TestRelayIDNWithoutSMTPUTF8(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\nfrom = \"me@example.org\"\n", h.Addr))
	h.Set("gone@xn--bcher-kva.example", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	e.MustSend("To: user@bücher.example, jörg@remote.example, gone@bücher.example\nSubject: idn\n\nbody\n", "-t")
	log := e.Once()
	if h.Count("user@xn--bcher-kva.example") != 1 || len(h.All()) != 1 || h.Asked("gone@xn--bcher-kva.example") != 1 {
		t.Errorf("smarthost got %v, want user@xn--bcher-kva.example only", h.All())
	}
	var sent, bounced string
	for l := range strings.Lines(log) {
		switch {
		case strings.Contains(l, "to=user@bücher.example"):
			sent = l
		case strings.Contains(l, "to=jörg@remote.example"):
			bounced = l
		}
	}
	if !strings.Contains(sent, "status=sent") || !strings.Contains(sent, "sent as user@xn--bcher-kva.example") {
		t.Errorf("log for user@bücher.example: %q\n%s", sent, log)
	}
	if !strings.Contains(bounced, "status=bounced") || !strings.Contains(bounced, "dsn=5.6.7") {
		t.Errorf("log for jörg@remote.example: %q\n%s", bounced, log)
	}
	// The DSN of an address in UTF-8 is an SMTPUTF8 one (RFC 6533).
	n := testenv.Files(e.Path("Maildir", "new"))
	if len(n) != 1 {
		t.Fatalf("want the DSN for jörg@ in the store, got %v", n)
	}
	b, err := os.ReadFile(e.Path("Maildir", "new", n[0]))
	if err != nil {
		t.Fatal(err)
	}
	if d := string(b); !strings.Contains(d, "Final-Recipient: utf-8; jörg@remote.example\n") ||
		!strings.Contains(d, "Status: 5.6.7\n") || strings.Contains(d, "Final-Recipient: utf-8; user@") ||
		!strings.Contains(d, "Final-Recipient: utf-8; gone@bücher.example\n") ||
		!strings.Contains(d, "Diagnostic-Code: smtp; 550 5.1.1 no such user\n") ||
		!strings.Contains(d, "sent as gone@xn--bcher-kva.example") {
		t.Errorf("DSN:\n%s", d)
	}
}
