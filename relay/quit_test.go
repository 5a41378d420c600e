package relay

import (
	"context"
	"testing"
	"time"

	"homepost/config"
	"homepost/courier"
	"homepost/outbox"
	"homepost/test/testenv"
)

// The results of a delivery are known once the smarthost has answered
// the data; a QUIT that is never answered must not hold them back for
// command_timeout, during which the agent has not recorded what the
// smarthost took (a crash then sends it again) and every later
// delivery to the smarthost waits.
func TestUnansweredQuitDoesNotHoldResults(t *testing.T) {
	q := testenv.StartQuietQuit(t)
	cfg := testConfig(t, "smtp://"+q.Addr)
	cfg.Relay.CommandTimeout = config.Duration{Duration: 20 * time.Second}
	start := time.Now()
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
	d := time.Since(start)
	status(t, res[0], outbox.Sent)
	if q.Took() != 1 {
		t.Fatalf("the smarthost took %d messages", q.Took())
	}
	if d > 5*time.Second {
		t.Errorf("results came %v after the start, held by the unanswered QUIT (command_timeout %v)", d.Round(time.Millisecond), cfg.Relay.CommandTimeout.Duration)
	}
}

// homepost check --relay has its answer once the login is done: a QUIT
// that is never answered does not keep it waiting command_timeout.
func TestProbeDoesNotWaitForQuit(t *testing.T) {
	q := testenv.StartQuietQuit(t)
	cfg := testConfig(t, "smtp://"+q.Addr)
	cfg.Relay.CommandTimeout = config.Duration{Duration: 20 * time.Second}
	start := time.Now()
	if err := newClient(t, cfg).Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Probe returned after %v, held by the unanswered QUIT", d.Round(time.Millisecond))
	}
}

// A connection given up for a recipient quota goes without waiting for
// the reply to QUIT: the rest of the batch does not wait
// command_timeout for it. The smarthost takes one message per
// connection and never answers QUIT.
func TestQuotaCutDoesNotWaitForQuit(t *testing.T) {
	q := testenv.StartQuietQuit(t)
	q.Quota.Store(1)
	cfg := testConfig(t, "smtp://"+q.Addr)
	cfg.Relay.CommandTimeout = config.Duration{Duration: 20 * time.Second}
	start := time.Now()
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{
		outgoing("A1", "alice@laptop", sample, "bob@example.org"),
		outgoing("B1", "alice@laptop", sample, "carol@example.org"),
	})
	status(t, res[0], outbox.Sent)
	status(t, res[1], outbox.Sent)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the batch took %v, held by an unanswered QUIT", d.Round(time.Millisecond))
	}
}
