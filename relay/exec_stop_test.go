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

// A stopped delivery ends the whole program, not only the process it
// started: a wrapper script's child (the real sendmail) that went on
// would hand over a message recorded as deferred, which the next try
// sends again.
func TestExecStoppedKillsTheWholeProgram(t *testing.T) {
	// As the agent runs, without a terminal (go test may have one).
	defer func(f func() bool) { foregroundTTY = f }(foregroundTTY)
	foregroundTTY = func() bool { return false }
	dir := t.TempDir()
	inner := filepath.Join(dir, "inner")
	log := filepath.Join(dir, "log")
	if err := os.WriteFile(inner, []byte("#!/bin/sh\ncat >/dev/null\nsleep 2\necho handed over >>"+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(dir, "wrapper")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\n"+inner+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, testConfig(t, "exec:"+wrapper))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	res := c.Send(ctx, []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
	if r := res[0][0]; r.Status != outbox.Deferred {
		t.Fatalf("status %s", r.Text())
	}
	time.Sleep(3 * time.Second)
	if b, err := os.ReadFile(log); err == nil {
		t.Errorf("the wrapper's child went on after the delivery was stopped and deferred: %q", b)
	}
}
