package agent

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"homepost/courier"
	"homepost/outbox"
)

// A queue file whose journal cannot be written (a full disk; here a
// file size limit, which fails the append as ENOSPC does) keeps the
// results the smarthost gave: the copy it took is not sent again at the
// next try, a minute later, and the next, for as long as the disk stays
// full. The results are written once the journal can be.
func TestUnwrittenResultsAreNotSentAgain(t *testing.T) {
	if f := flag.Lookup("test.testlogfile"); f != nil && f.Value.String() != "" {
		// The file size limit is the process's: the log of files
		// that go test writes for its cache (a cached run) could not
		// be written either, and the package would fail after its
		// tests passed. make test runs them uncached (-count=1).
		t.Skip("the file size limit would cut go test's own test log: run with -count=1")
	}
	ta := newTestAgent(t, "")
	relay := ta.smarthost(func(c *courier.Copy) courier.Result {
		if c.To == "a@example.com" {
			return courier.OK("250 2.0.0 queued")
		}
		return courier.Temp("4.2.0", "try later")
	})
	ta.queue("alice@box.example.org", ta.clock, "a@example.com", "b@example.com")
	names, _ := ta.box.Names("new")
	st, err := os.Stat(ta.box.Path("new", names[0]))
	if err != nil {
		t.Fatal(err)
	}
	// No byte may be added to any file from here: the journal's
	// appends fail with EFBIG (SIGXFSZ ignored, as the Go runtime does).
	signal.Ignore(syscall.SIGXFSZ)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	full := old
	full.Cur = uint64(st.Size())
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
			restored = true
		}
	}
	defer restore()

	sentTo := func() int {
		n := 0
		for _, call := range relay.calls {
			for _, c := range call {
				if c.To == "a@example.com" {
					n++
				}
			}
		}
		return n
	}
	ta.run()
	if sentTo() != 1 {
		t.Fatalf("first attempt: a@ got %d copies", sentTo())
	}
	for range 5 {
		ta.clock = ta.clock.Add(2 * time.Minute)
		ta.runDue(context.Background())
	}
	if n := sentTo(); n != 1 {
		t.Errorf("the smarthost got a@'s copy %d times while the journal could not be written", n)
	}
	restore()
	ta.clock = ta.clock.Add(2 * time.Minute)
	ta.runDue(context.Background())
	ta.clock = ta.clock.Add(2 * time.Minute)
	ta.runDue(context.Background())
	_, env := ta.claimed()
	if env.Rcpts[0].Status != outbox.Sent || env.Rcpts[0].Attempts != 1 {
		t.Errorf("a@ once the journal can be written: %+v", env.Rcpts[0])
	}
	if env.Rcpts[1].Status != outbox.Deferred {
		t.Errorf("b@: %+v", env.Rcpts[1])
	}
	if n := sentTo(); n != 1 {
		t.Errorf("a@ got %d copies in all", n)
	}
}
