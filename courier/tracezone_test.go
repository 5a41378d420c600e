package courier

import (
	"strings"
	"testing"
	"time"
)

// A trace's date is the same whatever the time zone of the process that
// makes it: a retry makes a marked mbox copy's trace again from the
// first attempt's time, to find the copy where a reader moved it, and a
// date in another zone made the copy another and stored it twice.
func TestTraceDateInUTC(t *testing.T) {
	at := time.Unix(1700000000, 0)
	a := Trace{ID: "X", Host: "h", Time: at.In(time.FixedZone("EST", -5*3600))}.Header()
	b := Trace{ID: "X", Host: "h", Time: at.In(time.FixedZone("CET", 3600))}.Header()
	if string(a) != string(b) || !strings.Contains(string(a), "+0000") {
		t.Errorf("traces differ by zone:\n%s\n%s", a, b)
	}
}
