package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/courier"
	"homepost/forwarder"
	"homepost/outbox"
)

// storeFiles returns the messages in the Maildir at dir (new/).
func storeFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(dir, "new"))
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, "new", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// A recipient that the smarthost refused with 5xx keeps its verdict
// when the DSN cannot be stored: the journal says it bounced and its
// DSN is pending, mailq lists the message as deferred with both
// reasons (not as being delivered), the smarthost is not asked again,
// and once the store can be written the DSN is stored, once, and the
// message leaves the queue.
func TestBounceKeptWhenDSNCannotBeStored(t *testing.T) {
	ta := newTestAgent(t, "store = \"~/blocked/Mail/\"\n")
	// A file where the store's parent directory should be: the store
	// cannot be made, even by root.
	blocker := filepath.Join(ta.home, "blocked")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f := ta.smarthost(func(c *courier.Copy) courier.Result {
		if strings.HasPrefix(c.Rcpt, "bad@") {
			return courier.Perm("5.1.1", "host 127.0.0.1 said: 550 5.1.1 no such user (in reply to RCPT TO)")
		}
		return courier.OK("host 127.0.0.1 said: 250 ok")
	})
	ta.queue("alice@box.example.org", ta.clock, "ok@remote.example", "bad@remote.example")
	ta.run()
	if len(f.calls) != 1 || len(f.calls[0]) != 2 {
		t.Fatalf("smarthost calls: %v", f.calls)
	}
	_, env := ta.claimed()
	if env.Rcpts[0].Status != outbox.Sent || env.Rcpts[1].Status != outbox.Bouncing ||
		!strings.Contains(env.Rcpts[1].Reason, "no such user") || !strings.Contains(env.Rcpts[1].Reason, "the bounce cannot be stored: ") {
		t.Fatalf("journal: %+v", env.Rcpts)
	}
	list := func() string {
		t.Helper()
		es, err := ta.box.List()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		outbox.WritePostfix(&b, es)
		return b.String()
	}
	q := list()
	id := outbox.ID(func() string { n, _ := ta.claimed(); return n }())
	if strings.Contains(q, id+"*") || !strings.Contains(strings.Join(strings.Fields(q), " "), "(bounced: host 127.0.0.1 said: 550 5.1.1 no such user (in reply to RCPT TO); the bounce cannot be stored: ") ||
		!strings.Contains(q, "bad@remote.example") || strings.Contains(q, "ok@remote.example") {
		t.Errorf("mailq:\n%s", q)
	}
	// Retries (a flush among them) ask the smarthost nothing.
	for range 3 {
		ta.clock = ta.clock.Add(2 * time.Hour)
		ta.run()
	}
	if err := ta.runOnce(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 1 {
		t.Fatalf("the smarthost was asked again: %d calls", len(f.calls))
	}
	if n := strings.Count(ta.logs.String(), "status=bounced"); n != 1 {
		t.Errorf("%d bounced lines in the log, want 1:\n%s", n, ta.logs.String())
	}
	// The store can be written: the DSN is stored once.
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	ta.clock = ta.clock.Add(2 * time.Hour)
	ta.run()
	ds := storeFiles(t, filepath.Join(ta.home, "blocked", "Mail"))
	if len(ds) != 1 || !strings.Contains(ds[0], "bad@remote.example") || !strings.Contains(ds[0], "5.1.1") ||
		strings.Contains(ds[0], "ok@remote.example") || strings.Contains(ds[0], "cannot be stored") {
		t.Fatalf("store after the fix: %q", ds)
	}
	ta.empty()
	ta.clock = ta.clock.Add(2 * time.Hour)
	ta.run()
	if n := len(storeFiles(t, filepath.Join(ta.home, "blocked", "Mail"))); n != 1 {
		t.Errorf("%d messages in the store, want the one DSN", n)
	}
}

// unsure stores each copy but answers, for its first n calls, that it
// is not known to be durable (as when the directory's fsync fails): a
// DSN that may be stored.
type unsure struct {
	courier.Courier
	n int
}

func (u *unsure) Deliver(ctx context.Context, copies []*courier.Copy) []courier.Result {
	res := u.Courier.Deliver(ctx, copies)
	if u.n > 0 {
		u.n--
		for i := range res {
			res[i] = courier.Unknown("4.3.0", "sync failed")
		}
	}
	return res
}

// A DSN that may have been stored is tried again for the same
// recipients under the same name, and found: stored once. A recipient
// that bounces meanwhile does not join it (its set would change, and
// with it its name): it is tried again, and gets a DSN of its own.
func TestUncertainDSNIsNotStoredTwice(t *testing.T) {
	ta := newTestAgent(t, "")
	ta.couriers[forwarder.Maildir] = &unsure{Courier: ta.couriers[forwarder.Maildir], n: 2}
	perm := false
	f := ta.smarthost(func(c *courier.Copy) courier.Result {
		if perm {
			return courier.Perm("5.1.1", "host 127.0.0.1 said: 550 5.1.1 gone")
		}
		return courier.Temp("4.2.0", "host 127.0.0.1 said: 450 busy")
	})
	// Index 0 bounces at once (no such local user), index 1 at the
	// smarthost in the second attempt.
	ta.queue("alice@box.example.org", ta.clock, "nosuchuser-x", "far@remote.example")
	ta.run()
	_, env := ta.claimed()
	if env.Rcpts[0].Status != outbox.Bouncing || env.Rcpts[1].Status != outbox.Deferred {
		t.Fatalf("after the first attempt: %+v", env.Rcpts)
	}
	perm = true
	ta.clock = ta.clock.Add(2 * time.Hour)
	ta.run()
	_, env = ta.claimed()
	if env.Rcpts[0].Status != outbox.Bouncing || env.Rcpts[1].Status != outbox.Deferred {
		t.Fatalf("after the second attempt: %+v", env.Rcpts)
	}
	ta.clock = ta.clock.Add(2 * time.Hour)
	ta.run()
	ta.empty()
	ds := ta.stored()
	if len(ds) != 2 {
		t.Fatalf("%d DSNs stored, want 2", len(ds))
	}
	for _, d := range ds {
		if strings.Contains(d, "nosuchuser-x") == strings.Contains(d, "far@remote.example") {
			t.Errorf("a DSN that reports both recipients or neither:\n%s", d)
		}
	}
	if len(f.calls) != 3 {
		t.Errorf("%d calls to the smarthost, want 3", len(f.calls))
	}
}

// In an mbox store, where the DSN is found again by its mark rather
// than its name, a bounce beside a local and a remote copy stores one
// DSN.
func TestMboxBounceStoredOnce(t *testing.T) {
	ta := newTestAgent(t, "store = \"mbox:~/inbox\"\n")
	ta.smarthost(func(c *courier.Copy) courier.Result {
		if strings.HasPrefix(c.Rcpt, "nobody@") {
			return courier.Perm("5.1.1", "no such user")
		}
		return courier.OK("250 ok")
	})
	ta.queue("alice@box.example.org", ta.clock, "alice", "far@remote.example", "nobody@remote.example")
	ta.run()
	ta.empty()
	b, err := os.ReadFile(filepath.Join(ta.home, "inbox"))
	if err != nil {
		t.Fatal(err)
	}
	if n, d := strings.Count("\n"+string(b), "\nFrom "), strings.Count(string(b), "Content-Type: multipart/report"); n != 2 || d != 1 {
		t.Errorf("the mbox holds %d messages, %d DSNs; want the copy and one DSN", n, d)
	}
}
