package agent

import (
	"context"
	"testing"
	"time"

	"homepost/courier"
	"homepost/forwarder"
)

// A message deferred while the clock was far ahead (a wrong hardware
// clock, a date typed by hand) and then set right is retried within the
// longest backoff, as any other: its journal's next attempt, a year
// away by the clock as it now reads, must not hold the queue for that
// year. Nor is it retried every minute meanwhile for an arrival that
// seems to lie in the future.
func TestClockSetBackDoesNotHoldRetries(t *testing.T) {
	ta := newTestAgent(t, "")
	relay := ta.smarthost(func(*courier.Copy) courier.Result { return courier.Temp("4.4.1", "connection refused") })
	right := ta.clock
	ta.clock = right.AddDate(1, 0, 0) // the clock is a year ahead
	ta.queue("alice@box.example.org", ta.clock, "bob@example.com")
	ta.run()
	if len(relay.calls) != 1 {
		t.Fatalf("%d attempts", len(relay.calls))
	}
	// The clock is set right; a restarted agent takes the queue up.
	ta.clock = right
	ta2 := &testAgent{Agent: newAgent(ta.cfg, ta.log), t: t, home: ta.home, clock: right}
	ta2.now = func() time.Time { return ta2.clock }
	ta2.couriers[forwarder.Remote] = relay
	ta2.run()
	tries := len(relay.calls)
	ta2.clock = right.Add(2 * time.Hour)
	for range 120 { // two hours, minute by minute
		ta2.clock = ta2.clock.Add(time.Minute)
		ta2.runDue(context.Background())
	}
	n := len(relay.calls) - tries
	if n == 0 {
		name, env := ta2.claimed()
		t.Fatalf("not retried within two hours after the clock was set back a year: next attempt %v (due %v)", env.Rcpts[0].Next, ta2.due[name])
	}
	if n > 6 {
		t.Errorf("retried %d times in two hours: every minute, for an arrival in the future", n)
	}
}
