package agent

import (
	"strings"
	"testing"
	"time"
)

// The wait before the next try is the time the message has spent in the
// queue, between a minute and an hour, whatever the number of tries. An
// arrival well in the future (the clock was set back) is an unknown
// time in the queue: hourly.
func TestBackoffSchedule(t *testing.T) {
	for age, want := range map[time.Duration]time.Duration{
		0: time.Minute, 30 * time.Second: time.Minute, time.Minute: time.Minute,
		5 * time.Minute: 5 * time.Minute, 40 * time.Minute: 40 * time.Minute,
		time.Hour: time.Hour, 50 * time.Hour: time.Hour, -30 * time.Second: time.Minute,
		-time.Hour: time.Hour,
	} {
		for range 50 {
			d := backoff(age)
			if d < want*9/10 || d > want*11/10 {
				t.Fatalf("backoff(%v) = %v, want %v ±10%%", age, d, want)
			}
		}
	}
}

// A copy's name is unique per queue file and recipient, and stable, so
// that a retry finds it.
func TestCopyName(t *testing.T) {
	a := copyName("1795720640.66132CADF3414273B.host:2,", 0)
	b := copyName("1795720640.66132CADF3414273B.host:2,", 1)
	if a != "1795720640.66132CADF3414273BR0.host" || a == b || strings.ContainsAny(a, ":/") {
		t.Fatalf("copyName: %q %q", a, b)
	}
}

func TestTraceOf(t *testing.T) {
	long := "X-Long: " + strings.Repeat("a", 5000) + "Received: in a long line\n"
	dt, hops := traceOf(strings.NewReader("Received: x\n\tReceived: folded\nDelivered-To: <Me@Host>\nRECEIVED: y\n" + long +
		"delivered-to: other@x\n\nDelivered-To: body@x\nReceived: in the body\n"))
	if !dt["me@host"] || !dt["other@x"] || dt["body@x"] || len(dt) != 2 || hops != 2 {
		t.Fatalf("traceOf: %v, %d hops", dt, hops)
	}
}
