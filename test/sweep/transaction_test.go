package sweep

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/test/testenv"
)

// TestSmarthostResendsOnlyTheTransactionInFlight: a message to 60
// remote recipients goes to the smarthost in two transactions (50, then
// 10). The agent is killed (SIGKILL) while the smarthost holds the
// second transaction's data, after it answered 250 to the first; the
// next agent must send the second transaction's recipients again, and
// not the first's: their results were journaled as the 250 came back,
// before the second transaction began. Both the daemon (whose worker
// sends the smarthost's copies) and agent --once are killed so.
func TestSmarthostResendsOnlyTheTransactionInFlight(t *testing.T) {
	for _, mode := range [][]string{{"agent"}, {"agent", "--once"}} {
		t.Run(mode[len(mode)-1], func(t *testing.T) {
			t.Parallel()
			host := startKillingHost(t)
			e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", host.addr))
			var rcpts []string
			for i := range 60 {
				rcpts = append(rcpts, fmt.Sprintf("r%02d@remote.example", i))
			}
			m := message{id: "txn@sweep.test", size: 300}
			e.MustSend(m.text(), append([]string{"-i"}, rcpts...)...)

			agent := e.Cmd(nil, "homepost", mode...)
			var logb bytes.Buffer
			agent.Stderr = &logb
			if err := agent.Start(); err != nil {
				t.Fatal(err)
			}
			host.arm(agent)
			done := make(chan error, 1)
			go func() { done <- agent.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				agent.Process.Kill()
				<-done
				t.Fatalf("the agent was not killed in the second transaction:\n%s", logb.String())
			}
			if !host.killed() {
				t.Fatalf("the agent ended before the second transaction:\n%s", logb.String())
			}
			first := host.transactions()
			if len(first) != 1 || len(first[0]) != 50 {
				t.Fatalf("before the kill the smarthost took %d transactions (%v), want one of 50", len(first), first)
			}
			// The next agent delivers what is left.
			log := e.Once()
			if q := testenv.Files(e.Outbox("cur")); len(q) != 0 {
				t.Fatalf("outbox/cur still holds %v:\n%s", q, log)
			}
			got := host.counts()
			var again, never []string
			for _, r := range rcpts {
				switch got[r] {
				case 1:
				case 0:
					never = append(never, r)
				default:
					again = append(again, r)
				}
			}
			if len(again) > 0 {
				t.Errorf("%d recipients got their copy again after the restart (the first transaction's were journaled as sent before the second began): %v", len(again), again)
			}
			if len(never) > 0 {
				t.Errorf("%d recipients never got a copy: %v", len(never), never)
			}
			if t.Failed() {
				t.Logf("transactions: %v\nlog of the killed agent:\n%s\nlog of the next:\n%s", host.transactions(), logb.String(), log)
			}
		})
	}
}

// killingHost is a smarthost that answers 250 to everything, records
// the recipients of each transaction whose data it answered, and kills
// the armed agent while it holds the data of the second transaction.
type killingHost struct {
	mu     sync.Mutex
	addr   string
	agent  *exec.Cmd // armed: killed in the second transaction
	txns   [][]string
	dead   bool
	closed bool
}

func startKillingHost(t *testing.T) *killingHost {
	h := &killingHost{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(h)
	s.Domain = "smarthost.test"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	h.addr = l.Addr().String()
	return h
}

func (h *killingHost) arm(c *exec.Cmd) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.agent = c
}

func (h *killingHost) killed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dead
}

func (h *killingHost) transactions() [][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]string(nil), h.txns...)
}

// counts is how many transactions each recipient was in.
func (h *killingHost) counts() map[string]int {
	n := map[string]int{}
	for _, tx := range h.transactions() {
		for _, r := range tx {
			n[r]++
		}
	}
	return n
}

func (h *killingHost) NewSession(*smtp.Conn) (smtp.Session, error) { return &killingSession{h: h}, nil }

type killingSession struct {
	h     *killingHost
	rcpts []string
}

func (s *killingSession) AuthPlain(string, string) error       { return nil }
func (s *killingSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *killingSession) Reset()                               { s.rcpts = nil }
func (s *killingSession) Logout() error                        { return nil }
func (s *killingSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *killingSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.agent != nil && !h.dead && len(h.txns) == 1 {
		// The second transaction's data is in; the agent waits for
		// the reply. It never gets it.
		h.agent.Process.Signal(syscall.SIGKILL)
		h.dead = true
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "killed"}
	}
	h.txns = append(h.txns, append([]string(nil), s.rcpts...))
	s.rcpts = nil
	return nil
}
