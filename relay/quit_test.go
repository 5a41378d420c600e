package relay

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"homepost/config"
	"homepost/courier"
	"homepost/outbox"
)

// silentQuit is a smarthost that takes every message and then never
// answers QUIT, as one does whose connection a NAT or a suspended
// laptop dropped right after its last reply: the reply to QUIT, and
// the close, never come. It returns its address and a channel told of
// each message it took.
func silentQuit(t *testing.T) (string, chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	took := make(chan string, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				r := bufio.NewReader(c)
				c.Write([]byte("220 silent.example ESMTP\r\n"))
				data := false
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if data {
						if line == ".\r\n" {
							data = false
							took <- "message"
							c.Write([]byte("250 2.0.0 queued as X\r\n"))
						}
						continue
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "EHLO"):
						c.Write([]byte("250-silent.example\r\n250 8BITMIME\r\n"))
					case strings.HasPrefix(cmd, "DATA"):
						data = true
						c.Write([]byte("354 go ahead\r\n"))
					case strings.HasPrefix(cmd, "QUIT"):
						// Nothing: the reply is lost.
					default:
						c.Write([]byte("250 ok\r\n"))
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), took
}

// The results of a delivery are known once the smarthost has answered
// the data; a QUIT that is never answered must not hold them back for
// command_timeout, during which the agent has not recorded what the
// smarthost took (a crash then sends it again) and every later
// delivery to the smarthost waits.
func TestUnansweredQuitDoesNotHoldResults(t *testing.T) {
	addr, took := silentQuit(t)
	cfg := testConfig(t, "smtp://"+addr)
	cfg.Relay.CommandTimeout = config.Duration{Duration: 20 * time.Second}
	start := time.Now()
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
	d := time.Since(start)
	status(t, res[0], outbox.Sent)
	if len(took) != 1 {
		t.Fatalf("the smarthost took %d messages", len(took))
	}
	if d > 5*time.Second {
		t.Errorf("results came %v after the start, held by the unanswered QUIT (command_timeout %v)", d.Round(time.Millisecond), cfg.Relay.CommandTimeout.Duration)
	}
}

// homepost check --relay has its answer once the login is done: a QUIT
// that is never answered does not keep it waiting command_timeout.
func TestProbeDoesNotWaitForQuit(t *testing.T) {
	addr, _ := silentQuit(t)
	cfg := testConfig(t, "smtp://"+addr)
	cfg.Relay.CommandTimeout = config.Duration{Duration: 20 * time.Second}
	start := time.Now()
	if err := newClient(t, cfg).Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Probe returned after %v, held by the unanswered QUIT", d.Round(time.Millisecond))
	}
}

// quotaRelay takes one message per connection and then refuses the
// next one's first recipient for their number on that connection (452
// 4.5.3), never answering the QUIT that follows; a new connection is
// served alike.
func quotaRelay(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				r := bufio.NewReader(c)
				c.Write([]byte("220 quota.example ESMTP\r\n"))
				data, took := false, 0
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if data {
						if line == ".\r\n" {
							data = false
							took++
							c.Write([]byte("250 2.0.0 queued\r\n"))
						}
						continue
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "EHLO"):
						c.Write([]byte("250-quota.example\r\n250 ENHANCEDSTATUSCODES\r\n"))
					case strings.HasPrefix(cmd, "RCPT") && took > 0:
						c.Write([]byte("452 4.5.3 too many recipients on this connection\r\n"))
					case cmd == "DATA":
						data = true
						c.Write([]byte("354 go ahead\r\n"))
					case cmd == "QUIT":
						// The reply is lost.
					default:
						c.Write([]byte("250 ok\r\n"))
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// A connection given up for a recipient quota goes without waiting for
// the reply to QUIT: the rest of the batch does not wait
// command_timeout for it.
func TestQuotaCutDoesNotWaitForQuit(t *testing.T) {
	cfg := testConfig(t, "smtp://"+quotaRelay(t))
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
