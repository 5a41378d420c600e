package report

import (
	"regexp"
	"strings"
	"testing"
)

// Every DSN has its own Message-ID, even many built in the same second:
// mail clients and indexers drop or merge messages whose IDs repeat.
func TestMessageIDsAreUnique(t *testing.T) {
	re := regexp.MustCompile(`(?m)^Message-ID: (<[^>]+>)$`)
	seen := map[string]bool{}
	for range 3000 {
		msg, err := BuildDSN(DSN{Host: "h.example", QueueID: "ABC", Sender: "bob@example.com",
			Recipients: []Recipient{{Final: "x@example.org", Status: "5.1.1", Diagnostic: "no"}}}, strings.NewReader("Subject: s\n\nb\n"))
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(msg)
		if m == nil {
			t.Fatalf("no Message-ID:\n%s", msg)
		}
		if seen[string(m[1])] {
			t.Fatalf("Message-ID %s repeated after %d DSNs", m[1], len(seen))
		}
		seen[string(m[1])] = true
	}
}
