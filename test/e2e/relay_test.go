package e2e

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// smarthost is an in-process SMTP server that answers each recipient as
// told and records what it accepted.
type smarthost struct {
	mu    sync.Mutex
	got   map[string][]string // recipient → messages
	reply map[string]*smtp.SMTPError
	conns atomic.Int32
	addr  string
}

func (h *smarthost) NewSession(*smtp.Conn) (smtp.Session, error) {
	h.conns.Add(1)
	return &hostSession{h: h}, nil
}

type hostSession struct {
	h     *smarthost
	rcpts []string
}

func (s *hostSession) AuthPlain(string, string) error       { return nil }
func (s *hostSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *hostSession) Reset()                               { s.rcpts = nil }
func (s *hostSession) Logout() error                        { return nil }
func (s *hostSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if e := s.h.reply[to]; e != nil {
		return e
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *hostSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	for _, rc := range s.rcpts {
		s.h.got[rc] = append(s.h.got[rc], string(b))
	}
	return nil
}

func (h *smarthost) set(rcpt string, e *smtp.SMTPError) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reply[rcpt] = e
}

func (h *smarthost) count(rcpt string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got[rcpt])
}

func startSmarthost(t *testing.T) *smarthost {
	h := &smarthost{got: map[string][]string{}, reply: map[string]*smtp.SMTPError{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(h)
	s.Domain = "smarthost.test"
	s.AllowInsecureAuth = true
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	h.addr = l.Addr().String()
	return h
}

// Remote mail leaves through the smarthost; a 4xx defers (mailq says
// what the host said), flush retries only what is deferred, a 5xx
// bounces into the store, and many messages share one connection.
func TestRelayQueue(t *testing.T) {
	h := startSmarthost(t)
	e := newEnv(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\nfrom = \"me@example.org\"\n", h.addr))
	h.set("later@remote.example", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"})
	h.set("nobody@remote.example", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	e.mustSend("To: ok@remote.example, later@remote.example\nBcc: hidden@remote.example\nSubject: mixed\n\nbody\n", "-t")
	e.mustSend("Subject: bounce me\n\nbody\n", "nobody@remote.example")
	e.once()
	if h.count("ok@remote.example") != 1 || h.count("hidden@remote.example") != 1 {
		t.Fatalf("smarthost got %v", h.got)
	}
	if msg := h.got["ok@remote.example"][0]; strings.Contains(msg, "hidden@") || strings.Contains(msg, "Bcc") ||
		!strings.Contains(msg, "From: me@example.org") && !strings.Contains(msg, "<me@example.org>") {
		t.Errorf("relayed copy:\n%s", msg)
	}
	q, _, _ := e.run(nil, "mailq")
	if !strings.Contains(q, "later@remote.example") || strings.Contains(q, "ok@remote.example") ||
		!strings.Contains(q, "451") || !strings.Contains(q, "try again later") || strings.Contains(q, "nobody@") {
		t.Errorf("mailq:\n%s", q)
	}
	js, _, _ := e.run(nil, "mailq", "--json")
	if !strings.Contains(js, `"address":"later@remote.example"`) || !strings.Contains(js, `"queue_name":"deferred"`) {
		t.Errorf("mailq --json:\n%s", js)
	}
	if n := files(e.path("Maildir", "new")); len(n) != 1 {
		t.Fatalf("want the DSN for nobody@ in the store, got %v", n)
	}
	// The host recovers; flush retries now, and only the deferred one.
	h.set("later@remote.example", nil)
	if _, stderr, code := e.run(nil, "homepost", "flush"); code != 0 {
		t.Fatalf("flush: %d %s", code, stderr)
	}
	if h.count("later@remote.example") != 1 || h.count("ok@remote.example") != 1 {
		t.Errorf("after flush: %v", h.got)
	}
	if q, _, _ := e.run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq after flush:\n%s", q)
	}

	// Many messages due together share one connection.
	before := h.conns.Load()
	for i := range 20 {
		e.mustSend(fmt.Sprintf("Subject: batch %d\n\nb\n", i), "many@remote.example")
	}
	e.once()
	if h.count("many@remote.example") != 20 {
		t.Fatalf("batch: %d delivered", h.count("many@remote.example"))
	}
	if c := h.conns.Load() - before; c != 1 {
		t.Errorf("20 messages used %d connections, want 1", c)
	}
}

// With the agent running, a deferred message waits on one timer and a
// flush (SIGUSR1 through homepost flush) sends it at once.
func TestRunningAgentFlush(t *testing.T) {
	h := startSmarthost(t)
	e := newEnv(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.addr))
	h.set("x@remote.example", &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "busy"})
	e.startAgent()
	e.mustSend("Subject: s\n\nb\n", "x@remote.example")
	e.waitFor(func() bool {
		q, _, _ := e.run(nil, "mailq")
		return strings.Contains(q, "busy")
	}, "the deferral")
	h.set("x@remote.example", nil)
	start := time.Now()
	e.run(nil, "homepost", "flush")
	e.waitFor(func() bool { return h.count("x@remote.example") == 1 }, "delivery after flush")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("flush took %v", d)
	}
}
