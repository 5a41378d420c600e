package agent

import (
	"strings"
	"testing"

	"homepost/courier"
	"homepost/outbox"
)

// queueHeader puts a message to rcpts in the outbox whose header starts
// with the fields in head.
func (ta *testAgent) queueHeader(head string, rcpts ...string) {
	ta.t.Helper()
	env := &outbox.Envelope{Sender: "alice@box.example.org", Arrival: ta.clock}
	for _, r := range rcpts {
		env.Rcpts = append(env.Rcpts, outbox.Recipient{Addr: r, Parent: -1})
	}
	dr, err := ta.box.Create(env, "box")
	if err != nil {
		ta.t.Fatal(err)
	}
	dr.WriteString(head + "From: alice@box.example.org\nSubject: loop\n\nbody\n")
	if err := dr.Commit(); err != nil {
		ta.t.Fatal(err)
	}
}

func received(n int) string {
	return strings.Repeat("Received: by elsewhere.example (homepost) id 1234;\n\tThu, 03 Dec 2026 10:00:00 +0000\n", n)
}

// The copy for the smarthost (or an exec: program) carries a Received
// field of its own, on top: a message that comes back to homepost
// around a loop has one more each time, and the hop limit ends it.
// The rest is byte for byte the message queued. Copies of one message
// for several recipients still share one transaction.
func TestSmarthostCopyGetsReceived(t *testing.T) {
	ta := newTestAgent(t, "")
	f := ta.smarthost(func(*courier.Copy) courier.Result { return courier.OK("250 ok") })
	ta.queueHeader("", "bob@remote.example")
	ta.queueHeader("", "bob@remote.example", "carol@remote.example")
	ta.run()
	if len(f.calls) != 1 || len(f.calls[0]) != 3 {
		t.Fatalf("smarthost calls: %v", f.calls)
	}
	for _, c := range f.calls[0] {
		h := string(c.Header)
		if !strings.HasPrefix(h, "Received: by box.example.org (homepost) id "+c.ID) || strings.Count(h, "Received:") != 1 {
			t.Errorf("copy of %s for %s: header %q", c.ID, c.Rcpt, h)
		}
		if strings.Count(h, "\n\tfor <") != 0 && c.Rcpt != "bob@remote.example" {
			t.Errorf("copy of %s for %s names one recipient: %q", c.ID, c.Rcpt, h)
		}
	}
	if a, b := string(f.calls[0][1].Header), string(f.calls[0][2].Header); a != b {
		t.Errorf("two recipients of one message, two headers: %q, %q", a, b)
	}
	one := string(f.calls[0][0].Header)
	if !strings.Contains(one, "\n\tfor <bob@remote.example>; ") {
		t.Errorf("copy for its only recipient does not name it: %q", one)
	}
	ta.empty()
}

// A message with 50 Received fields or more is in a loop: every
// recipient bounces 5.4.6 at once (Postfix's hopcount_limit), the
// smarthost is not asked, and the DSN goes to the sender. 49 is still
// delivered.
func TestHopLimitBounces(t *testing.T) {
	ta := newTestAgent(t, "")
	f := ta.smarthost(func(*courier.Copy) courier.Result { return courier.OK("250 ok") })
	ta.queueHeader(received(50), "bob@remote.example", "alice")
	ta.run()
	if len(f.calls) != 0 {
		t.Fatalf("a looping message went to the smarthost: %d calls", len(f.calls))
	}
	st := ta.stored()
	if len(st) != 1 {
		t.Fatalf("store holds %d messages, want the DSN alone", len(st))
	}
	if !strings.Contains(st[0], "5.4.6") || !strings.Contains(st[0], "too many hops (50 Received fields): mail loop") {
		t.Errorf("DSN:\n%s", st[0])
	}
	ta.empty()
	if !strings.Contains(ta.logs.String(), "status=bounced") {
		t.Errorf("log:\n%s", ta.logs.String())
	}
	// The DSN is for the sender, alice@box.example.org, and stored
	// locally, which the log says: to= alone read as if it had been
	// sent there.
	if l := ta.logs.String(); !strings.Contains(l, `msg="bounce stored"`) || !strings.Contains(l, "to=alice@box.example.org store=") {
		t.Errorf("the bounce's log line does not say where it is:\n%s", l)
	}

	ta.queueHeader(received(49), "bob@remote.example")
	ta.run()
	if len(f.calls) != 1 {
		t.Fatalf("49 Received fields: %d smarthost calls, want 1", len(f.calls))
	}
	ta.empty()
}
