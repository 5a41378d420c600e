package relay

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"homepost/courier"
	"homepost/outbox"
)

// silentServer accepts connections and says nothing, as an implicit-TLS
// port (465, Postfix's 2465) does to a client that waits for a
// greeting in clear: it waits for a TLS ClientHello.
func silentServer(t *testing.T) string {
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
		}
	}()
	return l.Addr().String()
}

// homepost check --relay gives up on a greeting that does not come
// after probeGreeting, not after command_timeout (5 minutes by
// default), and says what it waited for; a STARTTLS url gets the hint
// that the port may want TLS from the first byte.
func TestProbeGivesUpOnSilentServer(t *testing.T) {
	defer func(d time.Duration) { probeGreeting = d }(probeGreeting)
	probeGreeting = 300 * time.Millisecond
	addr := silentServer(t)
	cl := newClient(t, testConfig(t, "smtp+starttls://"+addr))
	start := time.Now()
	err := cl.Probe(context.Background())
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Probe waited %v for a greeting", d.Round(time.Millisecond))
	}
	if err == nil {
		t.Fatal("Probe of a silent server succeeded")
	}
	for _, want := range []string{"no greeting within 300ms", "smtps://" + addr} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Probe: %v\nwant it to say %q", err, want)
		}
	}
}

// A delivery whose greeting times out is deferred with the same hint:
// the reason names the implicit-TLS url to try.
func TestGreetingTimeoutHintsAtImplicitTLS(t *testing.T) {
	addr := silentServer(t)
	cfg := testConfig(t, "smtp+starttls://"+addr)
	cfg.Relay.CommandTimeout.Duration = 300 * time.Millisecond
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Deferred)
	r := res[0][0]
	for _, want := range []string{"timeout talking to 127.0.0.1 (greeting)", "no greeting within 300ms", "smtps://" + addr} {
		if !strings.Contains(r.Reason, want) {
			t.Errorf("reason %q\nwant it to say %q", r.Reason, want)
		}
	}
}

// The hint names the port when it is an implicit-TLS one.
func TestGreetingHint(t *testing.T) {
	for _, c := range []struct{ url, want, not string }{
		{"smtp+starttls://127.0.0.1:2465", "port 2465 is usually", ""},
		{"smtp+starttls://mail.example.org:465", "port 465 is usually", ""},
		{"smtp+starttls://mail.example.org:587", "smtps://mail.example.org:587", "usually"},
		{"smtp://127.0.0.1:25", "smtps://127.0.0.1:25", "usually"},
	} {
		cl := newClient(t, testConfig(t, c.url))
		h := cl.greetingHint(time.Minute)
		if !strings.Contains(h, c.want) || (c.not != "" && strings.Contains(h, c.not)) {
			t.Errorf("%s: hint %q, want %q", c.url, h, c.want)
		}
	}
	cl := newClient(t, testConfig(t, "smtps://127.0.0.1:465"))
	if h := cl.greetingHint(time.Minute); strings.Contains(h, "smtps://") {
		t.Errorf("smtps: hint %q names smtps", h)
	}
}
