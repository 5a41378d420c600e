package postfix

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"homepost/config"
	"homepost/courier"
	"homepost/outbox"
	"homepost/relay"
	"homepost/submit"
)

// The TLS smarthosts that setup.sh adds: STARTTLS on 2587, TLS from the
// first byte on 2465, both refusing mail without AUTH; the certificate is
// issued by a test CA.
const (
	submissionAddr = "127.0.0.1:2587"
	smtpsAddr      = "127.0.0.1:2465"
	tlsDir         = "/etc/postfix/homepost-test-tls"
)

// tlsConfig is testConfig for a TLS smarthost that wants AUTH: the test
// CA as ca_file, user tester and the password setup.sh chose.
func tlsConfig(t *testing.T, url string) *config.Config {
	t.Helper()
	host := strings.TrimPrefix(strings.TrimPrefix(url, "smtps://"), "smtp+starttls://")
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		t.Skipf("SKIP: no TLS Postfix on %s (%v); run test/postfix/setup.sh as root", host, err)
	}
	c.Close()
	pw, err := os.ReadFile(tlsDir + "/password")
	if err != nil {
		t.Skipf("SKIP: the test password is not readable: %v", err)
	}
	cfg := testConfig(t, "alice@sender.test.invalid")
	cfg.Relay.URL = url
	cfg.Relay.CAFile = tlsDir + "/ca.pem"
	cfg.Relay.Username = "tester"
	cfg.Relay.Password = strings.TrimSpace(string(pw))
	return cfg
}

// attempt hands one queued message to the smarthost and returns the
// result for each recipient, whatever it is.
func attempt(t *testing.T, cfg *config.Config, q queued) []courier.Result {
	t.Helper()
	c, err := relay.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return c.Send(context.Background(), []*courier.Outgoing{q.outgoing()})[0]
}

// Over STARTTLS and over TLS from the first byte, verified against the
// CA given as ca_file, with AUTH: the message arrives byte for byte,
// and Postfix's Received field says "with ESMTPSA" (encrypted and
// authenticated, RFC 3848).
func TestTLSWithAuth(t *testing.T) {
	needPostfix(t)
	for _, url := range []string{"smtp+starttls://" + submissionAddr, "smtps://" + smtpsAddr} {
		t.Run(strings.Split(url, ":")[0], func(t *testing.T) {
			cfg := tlsConfig(t, url)
			tok := token(t)
			q := enqueue(t, cfg, submit.Options{Recipients: []string{"frank@test.invalid"}},
				[]byte("From: alice\nTo: frank@test.invalid\nSubject: "+tok+"\n\nover TLS, naïvely\n"))
			send(t, cfg, q)
			c := arrived(t, tok, 1)[0]
			if !strings.Contains(string(c), " with ESMTPSA ") {
				t.Errorf("Postfix does not say the session was encrypted and authenticated:\n%s", c)
			}
			if !strings.HasSuffix(string(c), "over TLS, naïvely\n") {
				t.Errorf("body changed:\n%s", c)
			}
		})
	}
}

// A wrong password is a temporary failure that keeps the message (as
// Postfix's own client does: the password may be fixed), and nothing
// goes out; the reason carries the server's reply but never the
// password.
func TestWrongPasswordDefers(t *testing.T) {
	needPostfix(t)
	cfg := tlsConfig(t, "smtp+starttls://"+submissionAddr)
	cfg.Relay.Password = "not-the-password-" + token(t)
	tok := token(t)
	q := enqueue(t, cfg, submit.Options{Recipients: []string{"grace@test.invalid"}},
		[]byte("From: alice\nSubject: "+tok+"\n\nx\n"))
	res := attempt(t, cfg, q)
	if res[0].Status != outbox.Deferred {
		t.Fatalf("status %v (%s), want deferred", res[0].Status, res[0].Text())
	}
	if !strings.Contains(res[0].Reason, "535") || strings.Contains(res[0].Reason, cfg.Relay.Password) {
		t.Errorf("reason %q: want the server's 535 reply and no password", res[0].Reason)
	}
	time.Sleep(time.Second)
	if n := copies(tok); n != 0 {
		t.Errorf("%d copies arrived with a wrong password", n)
	}
}

// A certificate that the system's roots do not vouch for is refused:
// without ca_file the TLS handshake fails, the message is deferred with
// a reason that says so, and it is never sent in clear instead.
func TestUnknownCertificateDefers(t *testing.T) {
	needPostfix(t)
	for _, url := range []string{"smtp+starttls://" + submissionAddr, "smtps://" + smtpsAddr} {
		t.Run(strings.Split(url, ":")[0], func(t *testing.T) {
			cfg := tlsConfig(t, url)
			cfg.Relay.CAFile = ""
			tok := token(t)
			q := enqueue(t, cfg, submit.Options{Recipients: []string{"heidi@test.invalid"}},
				[]byte("From: alice\nSubject: "+tok+"\n\nx\n"))
			res := attempt(t, cfg, q)
			if res[0].Status != outbox.Deferred || !strings.Contains(res[0].Reason, "certificate") {
				t.Fatalf("got %v %q, want deferred for the certificate", res[0].Status, res[0].Text())
			}
			time.Sleep(time.Second)
			if n := copies(tok); n != 0 {
				t.Errorf("%d copies arrived over an unverified connection", n)
			}
		})
	}
}

// copies counts the stored messages that contain token.
func copies(token string) int {
	n := 0
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(maildir() + "/" + sub)
		for _, e := range ents {
			b, err := os.ReadFile(maildir() + "/" + sub + "/" + e.Name())
			if err == nil && strings.Contains(string(b), token) {
				n++
			}
		}
	}
	return n
}
