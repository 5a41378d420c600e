package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/config"
	"homepost/courier"
	"homepost/outbox"
)

const sample = "From: Alice <alice>\nTo: bob@example.org\nSubject: dots\n\nline one\n.\n.leading dot\n..two\nlast line\n"

func status(t *testing.T, res []courier.Result, want ...outbox.Status) {
	t.Helper()
	if len(res) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(res), len(want), res)
	}
	for i := range want {
		if res[i].Status != want[i] {
			t.Errorf("recipient %d: status %v (%s), want %v", i, res[i].Status, res[i].Text(), want[i])
		}
	}
}

func TestStartTLSAuthPlain(t *testing.T) {
	ca := newTestCA(t)
	be := &backend{user: "alice@example.com", pass: "s3cret pass"}
	addr := startServer(t, be, startTLSMode, ca)
	cfg := testConfig(t, "smtp+starttls://"+addr)
	cfg.Relay.CAFile = ca.file(t)
	cfg.Relay.Username = "alice@example.com"
	cfg.Relay.Password = "s3cret pass"
	cfg.Relay.From = "alice@example.com"
	c := newClient(t, cfg)

	res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
	status(t, res[0], outbox.Sent)
	if !strings.Contains(res[0][0].Reason, "host 127.0.0.1 said: 250") {
		t.Errorf("reason %q", res[0][0].Reason)
	}
	got := be.received()
	if len(got) != 1 {
		t.Fatalf("server got %d messages", len(got))
	}
	m := got[0]
	if !m.TLS || m.User != "alice@example.com" {
		t.Errorf("TLS %v user %q", m.TLS, m.User)
	}
	if m.From != "alice@example.com" {
		t.Errorf("envelope sender %q, want the from setting", m.From)
	}
	want := crlf(strings.Replace(sample, "From: Alice <alice>", "From: Alice <alice@example.com>", 1))
	if !bytes.Equal(m.Data, want) {
		t.Errorf("server got\n%q\nwant\n%q", m.Data, want)
	}
}

// A login over plain smtp:// is made to a loopback address only: a
// tunnel or a gateway on this machine (stunnel's client, DavMail's SMTP),
// where the password crosses no network. It was refused as a
// configuration error, and by the client without TLS.
func TestAuthPlainToLoopback(t *testing.T) {
	be := &backend{user: "alice", pass: "s3cret"}
	addr := startServer(t, be, plainMode, nil)
	cfg := testConfig(t, "smtp://"+addr)
	cfg.Relay.Username = "alice"
	cfg.Relay.Password = "s3cret"
	c := newClient(t, cfg)
	res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
	status(t, res[0], outbox.Sent)
	if got := be.received(); len(got) != 1 || got[0].User != "alice" || got[0].TLS {
		t.Errorf("server got %+v", got)
	}
}

func TestImplicitTLS(t *testing.T) {
	ca := newTestCA(t)
	be := &backend{}
	addr := startServer(t, be, implicitMode, ca)

	// Without ca_file the test CA is unknown: verification fails and the
	// mail waits.
	cfg := testConfig(t, "smtps://"+addr)
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
	status(t, res[0], outbox.Deferred)
	if r := res[0][0]; r.DSN != "4.7.5" || !strings.Contains(r.Reason, "certificate") {
		t.Errorf("unverified TLS: %s", r.Text())
	}
	if n := len(be.received()); n != 0 {
		t.Fatalf("server got %d messages over unverified TLS", n)
	}

	cfg.Relay.CAFile = ca.file(t)
	res = newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
	status(t, res[0], outbox.Sent)
	if got := be.received(); len(got) != 1 || !got[0].TLS {
		t.Fatalf("server got %+v", got)
	}
}

func TestCertificateForAnotherName(t *testing.T) {
	ca := newTestCA(t)
	be := &backend{}
	addr := startServer(t, be, implicitMode, ca)
	cfg := testConfig(t, "smtps://"+addr)
	cfg.Relay.CAFile = ca.file(t)
	c := newClient(t, cfg)
	// The certificate names 127.0.0.1 and localhost only.
	c.tls.ServerName = "mail.example.com"
	res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "bob@example.org")})
	status(t, res[0], outbox.Deferred)
	if r := res[0][0]; r.DSN != "4.7.5" || !strings.Contains(r.Reason, "mail.example.com") {
		t.Errorf("%s", r.Text())
	}
	if len(be.received()) != 0 {
		t.Fatal("message sent to a host with the wrong certificate")
	}
}

func TestProbe(t *testing.T) {
	ca := newTestCA(t)
	be := &backend{user: "alice", pass: "right"}
	addr := startServer(t, be, implicitMode, ca)
	cfg := testConfig(t, "smtps://"+addr)
	cfg.Relay.CAFile = ca.file(t)
	cfg.Relay.Username = "alice"
	cfg.Relay.Password = "right"
	if err := newClient(t, cfg).Probe(context.Background()); err != nil {
		t.Errorf("probe: %v", err)
	}
	cfg.Relay.Password = "wrong"
	if err := newClient(t, cfg).Probe(context.Background()); err == nil || !strings.Contains(err.Error(), "535") {
		t.Errorf("probe with a wrong password: %v", err)
	}
	if n := len(be.received()); n != 0 {
		t.Errorf("probe sent %d messages", n)
	}
	if err := newClient(t, testConfig(t, "exec:/nonexistent/sendmail")).Probe(context.Background()); err == nil {
		t.Error("probe of a missing program succeeded")
	}
}

func TestStartTLSRequired(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, plainMode, nil) // offers no STARTTLS
	cfg := testConfig(t, "smtp+starttls://"+addr)
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
	status(t, res[0], outbox.Deferred)
	if !strings.Contains(res[0][0].Reason, "STARTTLS") {
		t.Errorf("reason %q", res[0][0].Reason)
	}
	if len(be.received()) != 0 {
		t.Fatal("message sent in clear text")
	}
}

func TestPerRecipientReplies(t *testing.T) {
	be := &backend{rcptErr: map[string]error{
		"later@example.org":  &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"},
		"nobody@example.org": &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"},
		"plain@example.org":  &smtp.SMTPError{Code: 554, EnhancedCode: smtp.NoEnhancedCode, Message: "go away"},
	}}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	res := c.Send(context.Background(), []*courier.Outgoing{
		outgoing("A1", "alice@laptop", sample, "bob@example.org", "later@example.org", "nobody@example.org", "plain@example.org", "carol@example.org"),
	})
	status(t, res[0], outbox.Sent, outbox.Deferred, outbox.Bounced, outbox.Bounced, outbox.Sent)
	if r := res[0][1]; r.DSN != "4.3.0" || r.Reason != "host 127.0.0.1 said: 451 4.3.0 try again later (in reply to RCPT TO command)" {
		t.Errorf("deferred: DSN %q reason %q", r.DSN, r.Reason)
	}
	if r := res[0][2]; r.DSN != "5.1.1" || r.Reason != "host 127.0.0.1 said: 550 5.1.1 no such user (in reply to RCPT TO command)" {
		t.Errorf("bounced: DSN %q reason %q", r.DSN, r.Reason)
	}
	if r := res[0][3]; r.DSN != "5.0.0" {
		t.Errorf("no enhanced code: DSN %q reason %q", r.DSN, r.Reason)
	}
	got := be.received()
	if len(got) != 1 || strings.Join(got[0].Rcpts, ",") != "bob@example.org,carol@example.org" {
		t.Fatalf("server got %+v", got)
	}
	// No from setting: the envelope sender is kept.
	if got[0].From != "alice@laptop" {
		t.Errorf("sender %q", got[0].From)
	}
}

func TestAllRecipientsRefusedThenNext(t *testing.T) {
	be := &backend{rcptErr: map[string]error{
		"nobody@example.org": &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"},
	}}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	res := c.Send(context.Background(), []*courier.Outgoing{
		outgoing("A1", "alice@laptop", sample, "nobody@example.org"),
		outgoing("A2", "alice@laptop", sample, "bob@example.org"),
	})
	status(t, res[0], outbox.Bounced)
	status(t, res[1], outbox.Sent)
	if be.conns.Load() != 1 {
		t.Errorf("%d connections", be.conns.Load())
	}
}

func TestMailAndDataReplies(t *testing.T) {
	be := &backend{mailErr: &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "sender not allowed"}}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "a@example.org", "b@example.org")})
	status(t, res[0], outbox.Bounced, outbox.Bounced)
	// A sender refused for good points at [relay] from, the one key
	// every provider's rules are about.
	if r := res[0][0]; !strings.Contains(r.Reason, "553 5.7.1 sender not allowed") || !strings.Contains(r.Reason, "in reply to MAIL FROM:<alice@laptop>") || strings.Contains(r.Reason, "MAIL FROM command") || !strings.Contains(r.Reason, "[relay] from") {
		t.Errorf("a refused sender: %s", r.Text())
	}

	be = &backend{dataErr: &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "disk full"}}
	addr = startServer(t, be, plainMode, nil)
	c = newClient(t, testConfig(t, "smtp://"+addr))
	res = c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "a@example.org", "b@example.org")})
	status(t, res[0], outbox.Deferred, outbox.Deferred)
	if r := res[0][0]; r.DSN != "4.3.1" || !strings.Contains(r.Reason, "452 4.3.1 disk full") {
		t.Errorf("%s", r.Text())
	}
}

// TestDropDuringData: a connection lost in the middle of DATA means the
// message was not sent, and the messages after it wait too.
func TestDropDuringData(t *testing.T) {
	be := &backend{dropInData: true}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	big := sample + strings.Repeat("a line of body text to fill the socket buffers\n", 50000)
	res := c.Send(context.Background(), []*courier.Outgoing{
		outgoing("A1", "alice@laptop", sample, "a@example.org", "b@example.org"),
		outgoing("A2", "alice@laptop", big, "c@example.org"),
	})
	status(t, res[0], outbox.Deferred, outbox.Deferred)
	status(t, res[1], outbox.Deferred)
	if r := res[0][0]; !strings.HasPrefix(r.DSN, "4.") || !strings.Contains(r.Reason, "127.0.0.1") {
		t.Errorf("%s", r.Text())
	}
	if n := be.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (no retry on a connection that delivered nothing)", n)
	}
	if n := len(be.received()); n != 0 {
		t.Errorf("server kept %d messages", n)
	}

	// A large message dropped while it is being written.
	be2 := &backend{dropInData: true}
	addr = startServer(t, be2, plainMode, nil)
	c = newClient(t, testConfig(t, "smtp://"+addr))
	res = c.Send(context.Background(), []*courier.Outgoing{outgoing("A2", "alice@laptop", big, "c@example.org")})
	status(t, res[0], outbox.Deferred)
}

func TestConnectionReuse(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	var msgs []*courier.Outgoing
	for i := range 50 {
		msgs = append(msgs, outgoing(fmt.Sprint(i), "alice@laptop", fmt.Sprintf("Subject: %d\n\nbody %d\n", i, i), fmt.Sprintf("r%d@example.org", i)))
	}
	res := c.Send(context.Background(), msgs)
	for i := range res {
		status(t, res[i], outbox.Sent)
	}
	if n := be.conns.Load(); n != 1 {
		t.Errorf("%d connections for 50 messages, want 1", n)
	}
	got := be.received()
	if len(got) != 50 {
		t.Fatalf("server got %d messages", len(got))
	}
	for i, m := range got {
		if want := fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i); string(m.Data) != want || m.Rcpts[0] != fmt.Sprintf("r%d@example.org", i) {
			t.Fatalf("message %d: %q to %v", i, m.Data, m.Rcpts)
		}
	}
}

// TestReconnect: a server that closes after some messages (421) gets a
// new connection for the rest.
func TestReconnect(t *testing.T) {
	be := &backend{perConn: 2}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	var msgs []*courier.Outgoing
	for i := range 5 {
		msgs = append(msgs, outgoing(fmt.Sprint(i), "alice@laptop", sample, "bob@example.org"))
	}
	res := c.Send(context.Background(), msgs)
	for i := range res {
		status(t, res[i], outbox.Sent)
	}
	// Two messages per connection: the third and fifth meet 421 at MAIL
	// FROM and go again at once on a new connection.
	if n := be.conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
	if n := len(be.received()); n != 5 {
		t.Errorf("server got %d messages", n)
	}
}

func TestConnectRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := newClient(t, testConfig(t, "smtp://"+addr))
	res := c.Send(context.Background(), []*courier.Outgoing{
		outgoing("A1", "", sample, "a@example.org"),
		outgoing("A2", "", sample, "b@example.org"),
	})
	status(t, res[0], outbox.Deferred)
	status(t, res[1], outbox.Deferred)
	if r := res[1][0]; r.DSN != "4.4.1" || !strings.Contains(r.Reason, "refused") {
		t.Errorf("%s", r.Text())
	}
}

func TestGreetingTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // say nothing
		}
	}()
	for _, scheme := range []string{"smtp", "smtp+starttls", "smtps"} {
		cfg := testConfig(t, scheme+"://"+l.Addr().String())
		cfg.Relay.CommandTimeout.Duration = 300 * time.Millisecond
		start := time.Now()
		res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
		status(t, res[0], outbox.Deferred)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", scheme, d)
		}
		// What was waited for, and how long, in words: not Go's
		// "context deadline exceeded".
		if r := res[0][0].Reason; !strings.Contains(r, "within 300ms") || strings.Contains(r, "deadline") {
			t.Errorf("%s: %s", scheme, res[0][0].Text())
		}
	}
}

func TestContextCancel(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := newClient(t, testConfig(t, "smtp://"+l.Addr().String())).Send(ctx, []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Deferred)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v", d)
	}
}

func TestAuthFailureDefers(t *testing.T) {
	ca := newTestCA(t)
	be := &backend{user: "alice", pass: "right"}
	addr := startServer(t, be, implicitMode, ca)
	cfg := testConfig(t, "smtps://"+addr)
	cfg.Relay.CAFile = ca.file(t)
	cfg.Relay.Username = "alice"
	cfg.Relay.Password = "wrong-Secret-42"
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Deferred)
	r := res[0][0]
	if !strings.Contains(r.Reason, "535") || strings.Contains(r.Text(), "wrong-Secret-42") {
		t.Errorf("%s", r.Text())
	}
	if !strings.HasPrefix(r.DSN, "4.") {
		t.Errorf("DSN %s", r.DSN)
	}
}

func TestAuthLogin(t *testing.T) {
	ca := newTestCA(t)
	be := &backend{user: "alice", pass: "p4ss word", loginOnly: true}
	addr := startServer(t, be, implicitMode, ca)
	cfg := testConfig(t, "smtps://"+addr)
	cfg.Relay.CAFile = ca.file(t)
	cfg.Relay.Username = "alice"
	cfg.Relay.Password = "p4ss word"
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Sent)
	if got := be.received(); len(got) != 1 || got[0].User != "alice" {
		t.Errorf("%+v", got)
	}
}

// TestNoAuthOffered: with a username set, a server that offers no AUTH
// gets nothing (the mail would be refused or, worse, relayed unseen).
func TestNoAuthOffered(t *testing.T) {
	ca := newTestCA(t)
	be := &backend{}
	addr := startServer(t, be, implicitMode, ca)
	cfg := testConfig(t, "smtps://"+addr)
	cfg.Relay.CAFile = ca.file(t)
	cfg.Relay.Username = "alice"
	cfg.Relay.Password = "secret"
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Deferred)
	if len(be.received()) != 0 {
		t.Error("sent without authenticating")
	}
}

func TestPasswordCommand(t *testing.T) {
	ca := newTestCA(t)
	be := &backend{user: "alice", pass: "from the keyring"}
	addr := startServer(t, be, startTLSMode, ca)
	cfg := testConfig(t, "smtp+starttls://"+addr)
	cfg.Relay.CAFile = ca.file(t)
	cfg.Relay.Username = "alice"
	cfg.Relay.PasswordCommand = "printf 'from the keyring\\nsecond line\\n'"
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Sent)

	// A failing command defers, and what it printed stays secret.
	cfg.Relay.PasswordCommand = "echo from the keyring; exit 3"
	res = newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Deferred)
	if r := res[0][0].Text(); strings.Contains(r, "keyring") || !strings.Contains(r, "password_command") {
		t.Errorf("%s", r)
	}
	if n := be.authTries.Load(); n != 1 {
		t.Errorf("%d AUTH attempts, want 1", n)
	}
}

func TestSMTPUTF8(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	res := c.Send(context.Background(), []*courier.Outgoing{
		outgoing("A1", "alice@laptop", "Subject: plain\n\nhi\n", "bob@example.org"),
		outgoing("A2", "alice@laptop", "Subject: grüße\n\nhi\n", "jörg@example.org"),
	})
	status(t, res[0], outbox.Sent)
	status(t, res[1], outbox.Sent)
	got := be.received()
	if len(got) != 2 || got[0].UTF8 || !got[1].UTF8 || got[1].Rcpts[0] != "jörg@example.org" {
		t.Fatalf("%+v", got)
	}
	if got[0].Body != smtp.Body8BitMIME {
		t.Errorf("BODY=%q, want 8BITMIME", got[0].Body)
	}
}

func TestNullSenderStaysNull(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, plainMode, nil)
	cfg := testConfig(t, "smtp://"+addr)
	cfg.Relay.From = "alice@example.com"
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", "From: MAILER-DAEMON@laptop\n\nbounce\n", "bob@example.org")})
	status(t, res[0], outbox.Sent)
	got := be.received()
	if got[0].From != "" {
		t.Errorf("null sender became %q", got[0].From)
	}
}

func TestNoRelayConfigured(t *testing.T) {
	c := newClient(t, testConfig(t, ""))
	if c.Configured() {
		t.Fatal("Configured with no url")
	}
	res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Deferred)
}

func TestPlainOnlyToLoopback(t *testing.T) {
	cfg := testConfig(t, "smtp://localhost:1")
	if _, err := New(cfg, nil); err != nil {
		t.Fatalf("localhost refused: %v", err)
	}
	cfg = testConfig(t, "smtp://192.0.2.1:25")
	_, err := New(cfg, nil)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "relay.url" {
		t.Fatalf("plain to 192.0.2.1: %v", err)
	}
	cfg.Relay.Insecure = true
	if _, err := New(cfg, nil); err != nil {
		t.Fatalf("insecure = true: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*config.Relay)
		key  string
	}{
		{"scheme", func(r *config.Relay) { r.URL = "http://example.com" }, "relay.url"},
		{"no host", func(r *config.Relay) { r.URL = "smtps://" }, "relay.url"},
		{"userinfo", func(r *config.Relay) { r.URL = "smtps://me:hunter2@example.com" }, "relay.url"},
		{"path", func(r *config.Relay) { r.URL = "smtps://example.com/x" }, "relay.url"},
		{"port", func(r *config.Relay) { r.URL = "smtps://example.com:99999" }, "relay.url"},
		{"exec relative", func(r *config.Relay) { r.URL = "exec:sendmail -i" }, "relay.url"},
		{"auth in clear", func(r *config.Relay) { r.URL = "smtp://mail.example.com:25"; r.Username = "u"; r.Password = "p" }, "relay.username"},
		{"no password", func(r *config.Relay) { r.URL = "smtps://example.com"; r.Username = "u" }, "relay.password_command"},
		{"from", func(r *config.Relay) { r.URL = "smtps://example.com"; r.From = "alice" }, "relay.from"},
		{"ca_file", func(r *config.Relay) { r.URL = "smtps://example.com"; r.CAFile = "/nonexistent/ca.pem" }, "relay.ca_file"},
		{"timeout", func(r *config.Relay) { r.DataTimeout.Duration = 0 }, "relay.data_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "")
			tc.edit(&cfg.Relay)
			_, err := New(cfg, nil)
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Key != tc.key {
				t.Fatalf("got %v, want a config error for %s", err, tc.key)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestPasswordFileMode: a password in a config file that others can read
// is refused when the file is loaded.
func TestPasswordFileMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.toml")
	os.WriteFile(p, []byte("[relay]\nurl = \"smtps://smtp.example.com\"\nusername = \"u\"\npassword = \"hunter2\"\n"), 0o640)
	os.Chmod(p, 0o640)
	id := config.NewIdentity("alice", dir, "", os.Getuid())
	_, err := config.LoadFile(p, id)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "relay.password" || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("group-readable password file: %v", err)
	}
	os.Chmod(p, 0o600)
	cfg, err := config.LoadFile(p, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, nil); err != nil {
		t.Fatal(err)
	}
}

// failingReader returns data, then an error: a queue file that cannot
// be read to its end.
type failingReader struct{ data []byte }

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, errors.New("input/output error")
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestUnreadableMessage: a message that cannot be read to its end is
// never completed on the wire (no final dot), and is deferred.
func TestUnreadableMessage(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	bad := outgoing("B", "alice@laptop", "", "b@example.org")
	bad.Open = func() io.Reader {
		return &failingReader{data: []byte("Subject: half\n\n" + strings.Repeat("a line of text\n", 20000))}
	}
	res := c.Send(context.Background(), []*courier.Outgoing{
		outgoing("A", "alice@laptop", sample, "a@example.org"),
		bad,
		outgoing("C", "alice@laptop", sample, "c@example.org"),
	})
	status(t, res[0], outbox.Sent)
	status(t, res[1], outbox.Deferred)
	status(t, res[2], outbox.Sent)
	if r := res[1][0]; !strings.Contains(r.Reason, "read queued message: input/output error") {
		t.Errorf("%s", r.Text())
	}
	got := be.received()
	if len(got) != 2 || got[0].Rcpts[0] != "a@example.org" || got[1].Rcpts[0] != "c@example.org" {
		t.Fatalf("server kept %+v", got)
	}
}
