package mailx

import (
	"io"
	"testing"
)

// TestSummaryParallel lists a Maildir and an mbox with the parallel
// reader and formatter (run with -race).
func TestSummaryParallel(t *testing.T) {
	dir := t.TempDir()
	buildMaildir(t, dir+"/Maildir", 3000)
	buildMbox(t, dir+"/mbox", 3000)
	if n := listSummary(t, "maildir", dir+"/Maildir", io.Discard); n != 3000 {
		t.Errorf("Maildir: %d messages", n)
	}
	if n := listSummary(t, "mbox", dir+"/mbox", io.Discard); n != 3000 {
		t.Errorf("mbox: %d messages", n)
	}
}
