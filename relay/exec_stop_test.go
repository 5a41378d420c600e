package relay

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/courier"
	"homepost/outbox"
)

// An exec: program cut off because the delivery was stopped (the agent
// stops, a reload replaces [relay]) is deferred saying so: "did not
// finish within data_timeout" is false, and sends the user to raise a
// timeout that played no part.
func TestExecStoppedReason(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "slow")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\ncat >/dev/null\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "exec:"+prog)
	c := newClient(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	res := c.Send(ctx, []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopped delivery took %v", d)
	}
	r := res[0][0]
	if r.Status != outbox.Deferred {
		t.Fatalf("status %s", r.Text())
	}
	if strings.Contains(r.Reason, "did not finish within") || !strings.Contains(r.Reason, "stopped") {
		t.Errorf("reason for a stopped delivery: %s", r.Text())
	}
}
