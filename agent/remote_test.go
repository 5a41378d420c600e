package agent

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/courier"
	"homepost/forwarder"
)

// counting answers every copy sent and counts its deliveries.
type counting struct{ n atomic.Int32 }

func (c *counting) Deliver(_ context.Context, copies []*courier.Copy) []courier.Result {
	c.n.Add(1)
	res := make([]courier.Result, len(copies))
	for i := range res {
		res[i] = courier.OK("250 ok")
	}
	return res
}

// In the daemon, the smarthost's next batch is not begun before the
// results of the one before are recorded: until then a crash would
// send that one again, though nothing of it was in flight any more.
func TestNextSmarthostBatchWaitsForResults(t *testing.T) {
	ta := newTestAgent(t, "")
	c := &counting{}
	ta.couriers[forwarder.Remote] = c
	ta.async = true
	ctx := context.Background()
	ta.queue("alice@box.example.org", ta.clock, "bob@remote.example")
	if err := ta.runOnce(ctx, false); err != nil {
		t.Fatal(err)
	}
	ta.queue("alice@box.example.org", ta.clock, "carol@remote.example")
	if err := ta.runOnce(ctx, false); err != nil {
		t.Fatal(err)
	}
	take := func() *remoteBatch {
		t.Helper()
		select {
		case b := <-ta.remoteDone:
			return b
		case <-time.After(10 * time.Second):
			t.Fatal("no answer from the smarthost's worker")
			return nil
		}
	}
	b1 := take()
	// Time for the second batch's worker to begin, were it free to.
	time.Sleep(200 * time.Millisecond)
	if n := c.n.Load(); n != 1 {
		t.Fatalf("%d deliveries to the smarthost before the first one's results were recorded, want 1", n)
	}
	ta.remoteFinished(b1)
	b2 := take()
	ta.remoteFinished(b2)
	if n := c.n.Load(); n != 2 {
		t.Errorf("%d deliveries to the smarthost, want 2", n)
	}
	ta.empty()
}

// In the daemon's worker, a message to 60 recipients goes to a real
// smarthost in two transactions: the first's 50 are journaled as the
// worker takes the answer, before the second begins, the second's 10
// when the loop takes the answer; each recipient has one state record.
func TestWorkerJournalsEachTransaction(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(sink{})
	s.Domain = "smarthost.test"
	s.ErrorLog = log.New(io.Discard, "", 0)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	ta := newTestAgent(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", l.Addr()))
	ta.async = true
	var rcpts []string
	for i := range 60 {
		rcpts = append(rcpts, fmt.Sprintf("r%02d@remote.example", i))
	}
	ta.queue("alice@box.example.org", ta.clock, rcpts...)
	if err := ta.runOnce(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	var b *remoteBatch
	select {
	case b = <-ta.remoteDone:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer from the smarthost's worker")
	}
	early := 0
	for _, s := range b.sends {
		if s.early {
			early++
		}
	}
	if early != 50 {
		t.Errorf("%d copies journaled before the last transaction, want 50", early)
	}
	names, _ := ta.box.Names("cur")
	if len(names) != 1 {
		t.Fatalf("cur/ holds %v, want the message", names)
	}
	f, err := os.ReadFile(ta.box.Path("cur", names[0]))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		n := strings.Count(string(f), fmt.Sprintf("\ns %d sent ", i))
		if want := map[bool]int{true: 1, false: 0}[i < 50]; n != want {
			t.Errorf("recipient %d: %d state records before the loop took the answer, want %d", i, n, want)
		}
	}
	ta.remoteFinished(b)
	ta.empty()
	if got := strings.Count(ta.logs.String(), "status=sent"); got != 60 {
		t.Errorf("%d deliveries logged as sent, want 60", got)
	}
}
