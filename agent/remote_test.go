package agent

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

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
