package agent

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/config"
	"homepost/outbox"
)

// The cost of the smarthost's path through the agent, against a
// loopback go-smtp server, on the disk the tests run on (its fsyncs are
// real where that is a disk): one message to one remote recipient per
// batch (one transaction, the common case), a batch of 16 such
// messages (16 transactions on one connection), and one message to 60
// recipients (two transactions). Each op queues what it delivers
// (sendmail's fsyncs included) and runs agent --once's pass.

type sink struct{}

func (sink) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession{}, nil }

type sinkSession struct{}

func (sinkSession) AuthPlain(string, string) error       { return nil }
func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (sinkSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }
func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }

func benchAgent(b *testing.B) *Agent {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := smtp.NewServer(sink{})
	s.Domain = "smarthost.test"
	s.ErrorLog = log.New(io.Discard, "", 0)
	go s.Serve(l)
	b.Cleanup(func() { s.Close() })
	home := b.TempDir()
	conf := filepath.Join(home, "config.toml")
	text := fmt.Sprintf("hostname = \"box.example.org\"\nsystem_aliases = \"\"\nstate_dir = \"~/state\"\n[relay]\nurl = \"smtp://%s\"\n", l.Addr())
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.LoadFile(conf, config.NewIdentity("alice", home, "Alice", os.Getuid()))
	if err != nil {
		b.Fatal(err)
	}
	a := newAgent(cfg, slog.New(slog.DiscardHandler))
	if err := a.start(); err != nil {
		b.Fatal(err)
	}
	return a
}

func benchQueue(b *testing.B, a *Agent, rcpts ...string) {
	env := &outbox.Envelope{Sender: "alice@box.example.org", Arrival: time.Now()}
	for _, r := range rcpts {
		env.Rcpts = append(env.Rcpts, outbox.Recipient{Addr: r, Parent: -1})
	}
	dr, err := a.box.Create(env, "box")
	if err != nil {
		b.Fatal(err)
	}
	dr.WriteString("From: alice@box.example.org\nSubject: bench\n\nbody\n")
	if err := dr.Commit(); err != nil {
		b.Fatal(err)
	}
}

func benchRun(b *testing.B, a *Agent) {
	if err := a.runOnce(context.Background(), false); err != nil {
		b.Fatal(err)
	}
	if names, _ := a.box.Names("cur"); len(names) != 0 {
		b.Fatalf("undelivered: %v", names)
	}
}

func BenchmarkSmarthostOneTransaction(b *testing.B) {
	a := benchAgent(b)
	for b.Loop() {
		benchQueue(b, a, "bob@remote.example")
		benchRun(b, a)
	}
}

func BenchmarkSmarthostBatch16(b *testing.B) {
	a := benchAgent(b)
	for b.Loop() {
		for i := range 16 {
			benchQueue(b, a, fmt.Sprintf("r%d@remote.example", i))
		}
		benchRun(b, a)
	}
}

func BenchmarkSmarthost60Recipients(b *testing.B) {
	a := benchAgent(b)
	var rcpts []string
	for i := range 60 {
		rcpts = append(rcpts, fmt.Sprintf("r%02d@remote.example", i))
	}
	for b.Loop() {
		benchQueue(b, a, rcpts...)
		benchRun(b, a)
	}
}

// A message for the local store alone: what every cron mail costs the
// agent. Nothing of the smarthost's machinery may add to it.
func BenchmarkLocalOnly(b *testing.B) {
	a := benchAgent(b)
	for b.Loop() {
		benchQueue(b, a, "alice")
		benchRun(b, a)
	}
}

// A message for the local store and the smarthost, in the daemon's
// loop: the smarthost's copies go out from the worker, which records
// the local copy's result before the smarthost gets anything.
func BenchmarkLocalAndSmarthostDaemon(b *testing.B) {
	a := benchAgent(b)
	a.async = true
	defer func() { a.async = false }()
	for b.Loop() {
		benchQueue(b, a, "alice", "bob@remote.example")
		if err := a.runOnce(context.Background(), false); err != nil {
			b.Fatal(err)
		}
		a.remoteFinished(<-a.remoteDone)
		if names, _ := a.box.Names("cur"); len(names) != 0 {
			b.Fatalf("undelivered: %v", names)
		}
	}
}
