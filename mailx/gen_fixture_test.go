package mailx

import (
	"io"
	"os"
	"testing"
)

// TestBuildFixture writes 100,000-message fixture mailboxes into
// $MAILX_FIXTURE/Maildir and $MAILX_FIXTURE/mbox, for timing "mail -H -f"
// by hand or profiling TestListFixture.
func TestBuildFixture(t *testing.T) {
	dir := os.Getenv("MAILX_FIXTURE")
	if dir == "" {
		t.Skip("MAILX_FIXTURE not set")
	}
	buildMaildir(t, dir+"/Maildir", 100000)
	buildMbox(t, dir+"/mbox", 100000)
}

// TestListFixture lists the fixture Maildir of TestBuildFixture (run it
// with -cpuprofile).
func TestListFixture(t *testing.T) {
	dir := os.Getenv("MAILX_FIXTURE")
	if dir == "" {
		t.Skip("MAILX_FIXTURE not set")
	}
	for i := 0; i < 3; i++ {
		listSummary(t, "maildir", dir+"/Maildir", io.Discard)
		listSummary(t, "mbox", dir+"/mbox", io.Discard)
	}
}
