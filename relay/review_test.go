package relay

import (
	"context"
	"strings"
	"testing"

	"homepost/courier"
	"homepost/outbox"
)

// A quoted local part with a space ("john doe"@example.org) is a valid
// address (RFC 5321 4.1.2) and goes to the smarthost as it is; only
// line breaks and unquoted spaces or angle brackets are refused.
func TestQuotedLocalPartRelayed(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	res := c.Send(context.Background(), []*courier.Outgoing{
		outgoing("A1", `"alice smith"@laptop.example`, sample, `"john doe"@example.org`, "bad rcpt@example.org", "x>y@example.org", "plain@example.org"),
	})
	status(t, res[0], outbox.Sent, outbox.Bounced, outbox.Bounced, outbox.Sent)
	// go-smtp's server hands the paths on without their quotes.
	got := be.received()
	if len(got) != 1 || strings.Join(got[0].Rcpts, ",") != "john doe@example.org,plain@example.org" || got[0].From != "alice smith@laptop.example" {
		t.Fatalf("server got %+v", got)
	}
}
