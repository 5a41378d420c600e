package relay

import (
	"context"
	"strings"
	"testing"
	"time"

	"homepost/courier"
	"homepost/outbox"
)

// An smtps:// server that accepts the connection and never answers the
// TLS handshake is said so in words, with the time waited, as a plain
// server's missing greeting is: not as Go's "context deadline
// exceeded".
func TestProbeSilentTLSServer(t *testing.T) {
	defer func(d time.Duration) { probeGreeting = d }(probeGreeting)
	probeGreeting = 300 * time.Millisecond
	addr := silentServer(t)
	err := newClient(t, testConfig(t, "smtps://"+addr)).Probe(context.Background())
	if err == nil {
		t.Fatal("Probe of a silent server succeeded")
	}
	if !strings.Contains(err.Error(), "no answer to the TLS handshake within 300ms") || strings.Contains(err.Error(), "context") {
		t.Errorf("Probe: %v", err)
	}
}

// smtps:// to a port that greets in clear (plain SMTP, perhaps with
// STARTTLS) names the url that speaks it.
func TestImplicitTLSToPlainPortHints(t *testing.T) {
	addr := refusingServer(t, "220 plain.example ESMTP", nil)
	cfg := testConfig(t, "smtps://"+addr)
	err := newClient(t, cfg).Probe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not look like a TLS handshake") ||
		!strings.Contains(err.Error(), `try url = "smtp+starttls://`+addr+`"`) {
		t.Errorf("Probe: %v", err)
	}
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Deferred)
	if r := res[0][0].Reason; !strings.Contains(r, "smtp+starttls://"+addr) {
		t.Errorf("reason %q names no smtp+starttls:// url", r)
	}
}

// A delivery stopped (the agent stops, a reload replaces [relay]) says
// so in words, whether it stopped in the TLS handshake or before a
// message's turn: not Go's "context canceled".
func TestStoppedDeliveryReason(t *testing.T) {
	addr := silentServer(t)
	cfg := testConfig(t, "smtps://"+addr)
	cfg.Relay.CommandTimeout.Duration = 10 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	res := newClient(t, cfg).Send(ctx, []*courier.Outgoing{
		outgoing("A1", "", sample, "a@example.org"),
		outgoing("A2", "", sample, "b@example.org"),
	})
	status(t, res[0], outbox.Deferred)
	status(t, res[1], outbox.Deferred)
	for i := range res {
		if r := res[i][0].Reason; strings.Contains(r, "context") || !strings.Contains(r, "stopped") {
			t.Errorf("message %d: reason %q", i, r)
		}
	}
	// Stopped before it began.
	res = newClient(t, cfg).Send(ctx, []*courier.Outgoing{outgoing("A3", "", sample, "c@example.org")})
	if r := res[0][0].Reason; strings.Contains(r, "context") || !strings.Contains(r, "stopped") {
		t.Errorf("a delivery stopped before it began: reason %q", r)
	}
}
