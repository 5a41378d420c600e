package agent

import (
	"strings"
	"testing"
	"time"
)

func TestBackoffSchedule(t *testing.T) {
	for attempts, want := range map[int]time.Duration{1: time.Minute, 2: 5 * time.Minute, 3: 15 * time.Minute, 4: 30 * time.Minute, 5: time.Hour, 40: time.Hour} {
		for range 50 {
			d := backoff(attempts)
			if d < want*9/10 || d > want*11/10 {
				t.Fatalf("backoff(%d) = %v, want %v ±10%%", attempts, d, want)
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

func TestDeliveredTo(t *testing.T) {
	dt := deliveredTo(strings.NewReader("Received: x\nDelivered-To: <Me@Host>\ndelivered-to: other@x\n\nDelivered-To: body@x\n"))
	if !dt["me@host"] || !dt["other@x"] || dt["body@x"] || len(dt) != 2 {
		t.Fatalf("deliveredTo: %v", dt)
	}
}
