package postfix

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"homepost/outbox"
	"homepost/relay"
	"homepost/submit"
)

// smtp+starttls:// to Postfix's port of TLS from the first byte: Postfix
// waits for a ClientHello and says nothing. A delivery is deferred when
// command_timeout passes, with the reason naming the smtps:// url; check
// --relay (Probe) gives up after 15 seconds with the same hint, not
// after command_timeout.
func TestStartTLSToImplicitTLSPort(t *testing.T) {
	needPostfix(t)
	cfg := tlsConfig(t, "smtp+starttls://"+smtpsAddr)
	cfg.Relay.CommandTimeout.Duration = 2 * time.Second
	q := enqueue(t, cfg, submit.Options{Recipients: []string{"frank@test.invalid"}},
		[]byte("From: alice\nTo: frank@test.invalid\nSubject: "+token(t)+"\n\nwrong TLS mode\n"))
	res := attempt(t, cfg, q)
	if len(res) != 1 || res[0].Status != outbox.Deferred {
		t.Fatalf("results %+v, want one deferral", res)
	}
	for _, want := range []string{"(greeting)", "no greeting within 2s", "port 2465 is usually", `"smtps://` + smtpsAddr + `"`} {
		if !strings.Contains(res[0].Reason, want) {
			t.Errorf("reason %q\nwant it to say %q", res[0].Reason, want)
		}
	}

	cfg.Relay.CommandTimeout.Duration = 5 * time.Minute
	c, err := relay.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = c.Probe(context.Background())
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Probe waited %v", d.Round(time.Second))
	}
	if err == nil || !strings.Contains(err.Error(), "no greeting within 15s") || !strings.Contains(err.Error(), "smtps://"+smtpsAddr) {
		t.Errorf("Probe: %v", err)
	}
}
