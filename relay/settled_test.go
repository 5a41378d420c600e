package relay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"homepost/courier"
	"homepost/outbox"
)

// TestSettledBeforeNextTransaction: a message to 60 recipients goes in
// two transactions, then another message in a third. Before the second
// transaction begins, the first's 50 recipients are told to Settled;
// before the third, the second's 10; the third's come back from Send
// only. Each is told once, after the server answered it.
func TestSettledBeforeNextTransaction(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	var told []string
	tell := func(name string) func([]int, []courier.Result) {
		return func(idx []int, res []courier.Result) {
			for n, r := range res {
				if r.Status != outbox.Sent {
					t.Errorf("%s: recipient %d told %s", name, idx[n], r.Text())
				}
			}
			told = append(told, fmt.Sprintf("%s %d..%d (%d) after %d transactions", name, idx[0], idx[len(idx)-1], len(idx), len(be.received())))
		}
	}
	a1 := outgoing("A1", "alice@laptop", sample, rcpts(60)...)
	a1.Settled = tell("A1")
	a2 := outgoing("A2", "alice@laptop", sample, "next@example.org")
	a2.Settled = tell("A2")
	res := c.Send(context.Background(), []*courier.Outgoing{a1, a2})
	for i := range res {
		for j, r := range res[i] {
			if r.Status != outbox.Sent {
				t.Errorf("message %d, recipient %d: %s", i, j, r.Text())
			}
		}
	}
	want := []string{"A1 0..49 (50) after 1 transactions", "A1 50..59 (10) after 2 transactions"}
	if !slices.Equal(told, want) {
		t.Errorf("told %q, want %q", told, want)
	}
}

// TestSettledExec: with an exec: relay, each run of the program is a
// transaction: the first message's results are told before the second
// runs.
func TestSettledExec(t *testing.T) {
	dir, prog := fakeSendmail(t)
	if err := os.WriteFile(filepath.Join(dir, "code"), []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, testConfig(t, "exec:"+prog))
	var told [][]int
	a1 := outgoing("A1", "alice@laptop", sample, "bob@example.org", "carol@example.org")
	a1.Settled = func(idx []int, _ []courier.Result) { told = append(told, idx) }
	a2 := outgoing("A2", "alice@laptop", sample, "dave@example.org")
	a2.Settled = func(idx []int, _ []courier.Result) { t.Errorf("the last message told %v", idx) }
	c.Send(context.Background(), []*courier.Outgoing{a1, a2})
	if len(told) != 1 || !slices.Equal(told[0], []int{0, 1}) {
		t.Errorf("told %v, want [[0 1]]", told)
	}
}
