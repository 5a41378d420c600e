package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"homepost/courier"
	"homepost/outbox"
)

// refusingServer greets every connection with greeting and then answers
// 503 to everything but QUIT, as a server that refuses service does (RFC
// 5321 section 3.1). With ca it speaks TLS from the first byte.
func refusingServer(t *testing.T, greeting string, ca *testCA) string {
	return refusingServerTo(t, greeting, "503 5.5.1 no service", ca)
}

// refusingServerTo greets with greeting and answers everything but QUIT
// with reply.
func refusingServerTo(t *testing.T, greeting, reply string, ca *testCA) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var ln net.Listener = l
	if ca != nil {
		ln = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{ca.server}})
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte(greeting + "\r\n"))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if strings.HasPrefix(strings.ToUpper(line), "QUIT") {
						c.Write([]byte("221 2.0.0 bye\r\n"))
						return
					}
					c.Write([]byte(reply + "\r\n"))
				}
			}()
		}
	}()
	return l.Addr().String()
}

// A smarthost that greets with 554 refuses service now: every recipient
// is deferred, not bounced (Postfix's smtp_skip_5xx_greeting = yes), and
// the reason carries its reply.
func TestGreeting5xxDefers(t *testing.T) {
	ca := newTestCA(t)
	for _, scheme := range []string{"smtp", "smtp+starttls", "smtps"} {
		var tlsCA *testCA
		if scheme == "smtps" {
			tlsCA = ca
		}
		addr := refusingServer(t, "554 5.7.1 go away", tlsCA)
		cfg := testConfig(t, scheme+"://"+addr)
		cfg.Relay.CAFile = ca.file(t)
		res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{
			outgoing("A1", "alice@laptop", sample, "a@example.org", "b@example.org"),
			outgoing("A2", "", sample, "c@example.org"),
		})
		status(t, res[0], outbox.Deferred, outbox.Deferred)
		status(t, res[1], outbox.Deferred)
		r := res[0][1]
		if r.DSN != "4.7.1" || !strings.Contains(r.Reason, "554 5.7.1 go away") || !strings.Contains(r.Reason, "refused to talk to me") {
			t.Errorf("%s: %s (dsn %s)", scheme, r.Text(), r.DSN)
		}
	}
}

// A 4xx greeting defers as before, with the server's reply.
func TestGreeting4xxDefers(t *testing.T) {
	addr := refusingServer(t, "421 4.3.2 shutting down", nil)
	res := newClient(t, testConfig(t, "smtp://"+addr)).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Deferred)
	if r := res[0][0]; r.DSN != "4.3.2" || !strings.Contains(r.Reason, "421 4.3.2 shutting down") {
		t.Errorf("%s (dsn %s)", r.Text(), r.DSN)
	}
}

// A 5xx reply to EHLO is no greeting: it keeps its class, as in
// Postfix (which bounces when HELO is refused too).
func TestEHLO5xxIsNoGreeting(t *testing.T) {
	ca := newTestCA(t)
	for _, scheme := range []string{"smtp", "smtps"} {
		var tlsCA *testCA
		if scheme == "smtps" {
			tlsCA = ca
		}
		addr := refusingServerTo(t, "220 smtp.test ESMTP", "554 5.7.1 not you", tlsCA)
		cfg := testConfig(t, scheme+"://"+addr)
		cfg.Relay.CAFile = ca.file(t)
		res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
		status(t, res[0], outbox.Bounced)
		if r := res[0][0]; !strings.Contains(r.Reason, "said: 554 5.7.1 not you") {
			t.Errorf("%s: %s", scheme, r.Text())
		}
	}
}
