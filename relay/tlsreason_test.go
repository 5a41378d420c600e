package relay

import (
	"bufio"
	"context"
	"io"
	"net"
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

// hangingServer greets and answers EHLO, then reads and answers
// nothing more, as a smarthost that hangs in a transaction.
func hangingServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				c.Write([]byte("220 hang.example ESMTP\r\n"))
				r := bufio.NewReader(c)
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
				c.Write([]byte("250 hang.example\r\n"))
				io.Copy(io.Discard, r)
			}()
		}
	}()
	return l.Addr().String()
}

// A delivery stopped in the middle of a transaction says so, and in
// which command: not Go's "use of closed network connection" (the stop
// closes the connection).
func TestStoppedInTransactionReason(t *testing.T) {
	addr := hangingServer(t)
	cfg := testConfig(t, "smtp://"+addr)
	cfg.Relay.CommandTimeout.Duration = 10 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	res := newClient(t, cfg).Send(ctx, []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Deferred)
	if r := res[0][0].Reason; strings.Contains(r, "closed") || strings.Contains(r, "context") || !strings.Contains(r, "stopped during MAIL FROM") {
		t.Errorf("reason %q", r)
	}
}
