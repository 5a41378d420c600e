package relay

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"homepost/courier"
	"homepost/outbox"
)

// A smarthost that echoes the AUTH line in its 535 reply: the reply is
// kept (it says why), the credentials are not, in any form, for
// delivery (the journal, the log, mailq) and for check --relay (Probe).
func TestAuthEchoRedacted(t *testing.T) {
	ca := newTestCA(t)
	be := &backend{user: "alice", pass: "right", echoAuth: true}
	addr := startServer(t, be, implicitMode, ca)
	cfg := testConfig(t, "smtps://"+addr)
	cfg.Relay.CAFile = ca.file(t)
	cfg.Relay.Username = "alice"
	cfg.Relay.Password = "wrong-Secret-42"
	leaks := []string{"wrong-Secret-42", base64.StdEncoding.EncodeToString([]byte("\x00alice\x00wrong-Secret-42"))}
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Deferred)
	probe := newClient(t, cfg).Probe(context.Background())
	if probe == nil {
		t.Fatal("probe: no error")
	}
	for _, text := range []string{res[0][0].Text(), probe.Error()} {
		if !strings.Contains(text, "535") || !strings.Contains(text, "[redacted]") {
			t.Errorf("reply not kept, or not redacted: %s", text)
		}
		for _, l := range leaks {
			if strings.Contains(text, l) {
				t.Errorf("credentials in %q", text)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"535 5.7.8 AUTH PLAIN AGEAcA== rejected", "535 5.7.8 AUTH PLAIN [redacted] rejected"},
		{"535 bad password p", "535 bad password [redacted]"},
		{"535 auth login cA rejected", "535 auth login [redacted] rejected"},
		{"535 5.7.8 Authentication credentials invalid", "535 5.7.8 Authentication credentials invalid"},
	} {
		if got := redact(tc.in, "a", "p"); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A password that a reply echoes in plain text is redacted wherever it
// stands: with a space in it (a passphrase), or glued to other text
// ("password=..."), where the word-by-word match does not see it. A
// short one is left to that match, which does not mangle the words it
// happens to be part of.
func TestRedactPlainPassword(t *testing.T) {
	for _, tc := range []struct{ in, pass, want string }{
		{"535 5.7.8 bad credentials alice/correct horse battery", "correct horse battery", "535 5.7.8 bad credentials alice/[redacted]"},
		{"535 5.7.8 rejected password=hunter2-Secret", "hunter2-Secret", "535 5.7.8 rejected password=[redacted]"},
		{"535 5.7.8 pass invalid", "pa", "535 5.7.8 pass invalid"},
	} {
		if got := redact(tc.in, "alice", tc.pass); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
