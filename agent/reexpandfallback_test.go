package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/courier"
)

// reexpandFallback runs a message to alice, whose ~/.forward keeps a
// copy and forwards one to bob@remote.example, which the smarthost
// defers at first; then spoil makes the files that steer alice's mail
// unusable for one retry, mend makes them usable again, and the
// smarthost takes the copy. It returns the test agent and how many
// copies for bob the smarthost took.
func reexpandFallback(t *testing.T, spoil, mend func(ta *testAgent)) (*testAgent, int) {
	t.Helper()
	ta := newTestAgent(t, "")
	if err := os.WriteFile(filepath.Join(ta.home, ".forward"), []byte("\\alice\nbob@remote.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	accept := false
	taken := 0
	ta.smarthost(func(c *courier.Copy) courier.Result {
		if !accept {
			return courier.Temp("4.2.0", "try later")
		}
		if c.To == "bob@remote.example" {
			taken++
		}
		return courier.OK("250 2.0.0 queued")
	})
	ta.queue("carol@example.com", ta.clock, "alice@box.example.org")
	ta.run()
	if n := len(ta.stored()); n != 1 {
		t.Fatalf("%d copies in the Maildir after the first attempt, want 1", n)
	}
	spoil(ta)
	ta.clock = ta.clock.Add(2 * time.Hour)
	ta.runDue(context.Background())
	mend(ta)
	accept = true
	for range 2 {
		ta.clock = ta.clock.Add(2 * time.Hour)
		ta.runDue(context.Background())
	}
	if n := len(ta.stored()); n != 1 {
		t.Errorf("%d copies in the Maildir, want 1", n)
	}
	return ta, taken
}

// A ~/.forward that cannot be obeyed for a while (group-writable after
// an edit made under umask 002, unreadable) sends new mail to the store
// so that none is lost. A retry of a message whose copy for another
// place waits must not take that fallback for the user's wish: the
// store had its copy already, the waiting one was dropped, the message
// left the queue, and the forwarded copy was never sent, also once the
// file was mended.
func TestReexpandKeepsWaitingCopyWhileForwardUnsafe(t *testing.T) {
	fwd := func(ta *testAgent) string { return filepath.Join(ta.home, ".forward") }
	ta, taken := reexpandFallback(t,
		func(ta *testAgent) { os.Chmod(fwd(ta), 0o664) },
		func(ta *testAgent) { os.Chmod(fwd(ta), 0o600) })
	if taken != 1 {
		t.Errorf("the smarthost took %d copies for bob@remote.example, want 1; log:\n%s", taken, ta.logs.String())
	}
	ta.empty()
	if !strings.Contains(ta.logs.String(), "group-writable") {
		t.Errorf("the log does not say why the expansion was not followed:\n%s", ta.logs.String())
	}
}

// The same with the user's aliases file that cannot be read for a
// while: the message to an alias whose forwarded copy waits.
func TestReexpandKeepsWaitingCopyWhileAliasesUnusable(t *testing.T) {
	ta := newTestAgent(t, "")
	aliases := ta.cfg.Aliases
	os.MkdirAll(filepath.Dir(aliases), 0o700)
	if err := os.WriteFile(aliases, []byte("team: alice, bob@remote.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	accept := false
	taken := 0
	ta.smarthost(func(c *courier.Copy) courier.Result {
		if !accept {
			return courier.Temp("4.2.0", "try later")
		}
		if c.To == "bob@remote.example" {
			taken++
		}
		return courier.OK("250 2.0.0 queued")
	})
	ta.queue("carol@example.com", ta.clock, "team@box.example.org")
	ta.run()
	if n := len(ta.stored()); n != 1 {
		t.Fatalf("%d copies in the Maildir after the first attempt, want 1", n)
	}
	os.Chmod(aliases, 0o666)
	ta.clock = ta.clock.Add(2 * time.Hour)
	ta.runDue(context.Background())
	os.Chmod(aliases, 0o600)
	accept = true
	for range 2 {
		ta.clock = ta.clock.Add(2 * time.Hour)
		ta.runDue(context.Background())
	}
	if taken != 1 {
		t.Errorf("the smarthost took %d copies for bob@remote.example, want 1; log:\n%s", taken, ta.logs.String())
	}
	if n := len(ta.stored()); n != 1 {
		t.Errorf("%d copies in the Maildir, want 1", n)
	}
	ta.empty()
}
