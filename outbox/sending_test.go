package outbox

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The recipients a delivery in progress carries are shown under its
// reason, in place of an earlier attempt's, and the message as active;
// the others keep theirs.
func TestMarkSending(t *testing.T) {
	e := Entry{ID: "661B0001", Arrival: time.Unix(1796290000, 0), Sender: "me@example.org",
		Rcpts: []Recipient{
			{Addr: "far@example.org", Reason: "4.4.2 timeout talking to 127.0.0.1 (greeting)", Attempts: 1},
			{Addr: "other@example.org", Reason: "4.4.1 connect to x: refused", Attempts: 1},
		},
		Original: []string{"far@example.org", "other@example.org"}, Idx: []int{2, 3}}
	entries := []Entry{e, {ID: "661B0002", Arrival: time.Unix(1796290001, 0), Rcpts: []Recipient{{Addr: "x@example.org"}}, Original: []string{"x@example.org"}, Idx: []int{0}}}
	MarkSending(entries, map[string][]int{"661B0001": {2}}, "being sent to 127.0.0.1:2465 since 09:13:49")
	var b bytes.Buffer
	WritePostfix(&b, entries)
	out := b.String()
	for _, want := range []string{"661B0001  *", "(being sent to 127.0.0.1:2465 since 09:13:49)\n" + strings.Repeat(" ", 41) + "far@example.org", "(connect to x: refused)"} {
		if !strings.Contains(out, want) {
			t.Errorf("mailq:\n%s\nwant %q", out, want)
		}
	}
	if strings.Contains(out, "661B0002  *") || strings.Contains(out, "timeout talking") {
		t.Errorf("mailq:\n%s", out)
	}
}
