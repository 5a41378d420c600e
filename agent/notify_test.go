package agent

import (
	"strings"
	"testing"

	"homepost/courier"
	"homepost/outbox"
)

// queueOpts queues a message to rcpts with sendmail's DSN options
// (notify, ret, envid) kept in its envelope.
func (ta *testAgent) queueOpts(opts map[string]string, rcpts ...string) {
	ta.t.Helper()
	env := &outbox.Envelope{Sender: "alice@box.example.org", Arrival: ta.clock, Opts: opts}
	for _, r := range rcpts {
		env.Rcpts = append(env.Rcpts, outbox.Recipient{Addr: r, Parent: -1})
	}
	dr, err := ta.box.Create(env, "box")
	if err != nil {
		ta.t.Fatal(err)
	}
	dr.WriteString("From: alice@box.example.org\nSubject: dsn options\n\nbody\n")
	if err := dr.Commit(); err != nil {
		ta.t.Fatal(err)
	}
}

// sendmail -N never (NOTIFY=NEVER, RFC 3461): a failed recipient leaves
// the queue with no DSN, as Postfix sends none; -V's envelope ID comes
// back in the DSN of a message that asked for one.
func TestNotifyNeverAndEnvID(t *testing.T) {
	ta := newTestAgent(t, "")
	ta.smarthost(func(*courier.Copy) courier.Result { return courier.Perm("5.1.1", "no such user") })
	ta.queueOpts(map[string]string{"notify": "never"}, "bob@example.com")
	ta.run()
	ta.empty()
	if got := ta.stored(); len(got) != 0 {
		t.Fatalf("a DSN for NOTIFY=NEVER: %q", got)
	}
	if !strings.Contains(ta.logs.String(), "NOTIFY=NEVER") {
		t.Fatalf("log:\n%s", ta.logs.String())
	}

	ta = newTestAgent(t, "")
	ta.smarthost(func(*courier.Copy) courier.Result { return courier.Perm("5.1.1", "no such user") })
	ta.queueOpts(map[string]string{"notify": "failure,delay", "envid": "ENV-42"}, "bob@example.com")
	ta.run()
	ta.empty()
	got := ta.stored()
	if len(got) != 1 || !strings.Contains(got[0], "\nOriginal-Envelope-Id: ENV-42\n") {
		t.Fatalf("DSNs: %q", got)
	}
}

// The copy for the smarthost carries the sender's DSN request, which
// the relay passes on to a smarthost that offers DSN.
func TestRemoteCopyCarriesDSNRequest(t *testing.T) {
	ta := newTestAgent(t, "")
	var got courier.DSNRequest
	ta.smarthost(func(c *courier.Copy) courier.Result { got = c.DSN; return courier.OK("250 ok") })
	ta.queueOpts(map[string]string{"notify": "success", "ret": "hdrs", "envid": "E1"}, "bob@example.com")
	ta.run()
	if got != (courier.DSNRequest{Notify: "success", Ret: "hdrs", EnvID: "E1"}) {
		t.Errorf("copy's DSN request %+v", got)
	}
}
