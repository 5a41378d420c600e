package relay

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/emersion/go-smtp"

	"homepost/courier"
	"homepost/outbox"
)

// rcpts makes n recipient addresses.
func rcpts(n int) []string {
	var r []string
	for i := range n {
		r = append(r, fmt.Sprintf("r%03d@example.org", i))
	}
	return r
}

// perRcpt counts the copies the server accepted for each recipient and
// returns the number of recipients of each transaction.
func perRcpt(got []received) (map[string]int, []int) {
	n := map[string]int{}
	var sizes []int
	for _, m := range got {
		sizes = append(sizes, len(m.Rcpts))
		for _, r := range m.Rcpts {
			n[r]++
		}
	}
	return n, sizes
}

// checkOnce fails unless every recipient in want got exactly one copy
// and no other recipient got any.
func checkOnce(t *testing.T, got []received, want []string) []int {
	t.Helper()
	n, sizes := perRcpt(got)
	for _, r := range want {
		if n[r] != 1 {
			t.Errorf("%s got %d copies", r, n[r])
		}
		delete(n, r)
	}
	for r, c := range n {
		t.Errorf("%s got %d copies, want none", r, c)
	}
	return sizes
}

// TestTooManyRecipients: a server that answers 452 4.5.3 after three
// recipients of a transaction gets the rest in further transactions of
// the same connection, at once; a 452 about one recipient (mailbox full)
// before the limit defers that one alone.
func TestTooManyRecipients(t *testing.T) {
	full := &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
	be := &backend{maxRcpt: 3, rcptErr: map[string]error{"full@example.org": full}}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	to := rcpts(10)
	to = slices.Insert(to, 1, "full@example.org")
	res := c.Send(context.Background(), []*courier.Outgoing{
		outgoing("A1", "alice@laptop", sample, to...),
		outgoing("A2", "alice@laptop", sample, "next@example.org"),
	})
	want := make([]outbox.Status, len(to))
	for i := range want {
		want[i] = outbox.Sent
	}
	want[1] = outbox.Deferred
	status(t, res[0], want...)
	status(t, res[1], outbox.Sent)
	if r := res[0][1]; r.DSN != "4.2.2" || r.Reason != "host 127.0.0.1 said: 452 4.2.2 mailbox full (in reply to RCPT TO command)" {
		t.Errorf("mailbox full: %s", r.Text())
	}
	sizes := checkOnce(t, be.received(), append(slices.Delete(slices.Clone(to), 1, 2), "next@example.org"))
	if !slices.Equal(sizes, []int{3, 3, 3, 1, 1}) {
		t.Errorf("transactions of %v recipients, want [3 3 3 1 1]", sizes)
	}
	if n := be.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	// The limit, once met with 4.5.3, is kept: the later transactions
	// stop at three recipients by themselves.
	if n := be.tooMany.Load(); n != 2 {
		t.Errorf("%d replies 452 (the limit once, the full mailbox once), want 2", n)
	}
}

// TestTooManyRecipientsWithoutCode: a server that says 452 with no
// enhanced status code. The first refusal after acceptances ends the
// transaction and the refused recipient goes first in the next one: a
// limit lets it through there, a refusal of its own comes again and
// defers it alone.
func TestTooManyRecipientsWithoutCode(t *testing.T) {
	full := &smtp.SMTPError{Code: 452, EnhancedCode: smtp.NoEnhancedCode, Message: "mailbox full"}
	be := &backend{maxRcpt: 4, noCode: true, rcptErr: map[string]error{"full@example.org": full}}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	to := rcpts(14)
	to = slices.Insert(to, 2, "full@example.org")
	res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, to...)})
	want := make([]outbox.Status, len(to))
	for i := range want {
		want[i] = outbox.Sent
	}
	want[2] = outbox.Deferred
	status(t, res[0], want...)
	if r := res[0][2]; r.Reason != "host 127.0.0.1 said: 452 mailbox full (in reply to RCPT TO command)" {
		t.Errorf("mailbox full: %s", r.Text())
	}
	sizes := checkOnce(t, be.received(), slices.Delete(slices.Clone(to), 2, 3))
	for _, n := range sizes {
		if n > 4 {
			t.Errorf("transactions of %v recipients", sizes)
		}
	}
	if n := be.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestRecipientLimit: at most 50 recipients per transaction, as
// Postfix's smtp_destination_recipient_limit, and fewer when the server
// announces fewer (LIMITS RCPTMAX, RFC 9422) without meeting a 452.
func TestRecipientLimit(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	to := rcpts(120)
	res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, to...)})
	for i, r := range res[0] {
		if r.Status != outbox.Sent {
			t.Fatalf("recipient %d: %s", i, r.Text())
		}
	}
	if sizes := checkOnce(t, be.received(), to); !slices.Equal(sizes, []int{50, 50, 20}) {
		t.Errorf("transactions of %v recipients, want [50 50 20]", sizes)
	}

	be = &backend{rcptMax: 7}
	addr = startServer(t, be, plainMode, nil)
	c = newClient(t, testConfig(t, "smtp://"+addr))
	to = rcpts(20)
	res = c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, to...)})
	for i, r := range res[0] {
		if r.Status != outbox.Sent {
			t.Fatalf("recipient %d: %s", i, r.Text())
		}
	}
	if sizes := checkOnce(t, be.received(), to); !slices.Equal(sizes, []int{7, 7, 6}) {
		t.Errorf("transactions of %v recipients, want [7 7 6]", sizes)
	}
	if n := be.tooMany.Load(); n != 0 {
		t.Errorf("%d replies 452 from a server that announced its limit", n)
	}
}

// TestTooManyRecipientsAtFirst: 452 4.5.3 to the first recipient of a
// transaction is a limit that no new transaction gets around (a quota
// per day, per connection): the rest of the message is deferred with it
// and not offered one by one.
func TestTooManyRecipientsAtFirst(t *testing.T) {
	quota := &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "recipient quota exceeded"}
	be := &backend{rcptErr: map[string]error{"r000@example.org": quota}}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	res := c.Send(context.Background(), []*courier.Outgoing{
		outgoing("A1", "alice@laptop", sample, rcpts(3)...),
		outgoing("A2", "alice@laptop", sample, "next@example.org"),
	})
	status(t, res[0], outbox.Deferred, outbox.Deferred, outbox.Deferred)
	status(t, res[1], outbox.Sent)
	for _, r := range res[0] {
		if r.DSN != "4.5.3" || r.Reason != "host 127.0.0.1 said: 452 4.5.3 recipient quota exceeded (in reply to RCPT TO command)" {
			t.Errorf("%s", r.Text())
		}
	}
	checkOnce(t, be.received(), []string{"next@example.org"})
}

// TestTooManyRecipientsNewConnection: a server that takes one message
// per connection (421 to the next MAIL) gets each further transaction
// of a message cut by its recipient limit on a new connection, and no
// recipient twice.
func TestTooManyRecipientsNewConnection(t *testing.T) {
	be := &backend{maxRcpt: 3, perConn: 1}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	to := rcpts(8)
	res := c.Send(context.Background(), []*courier.Outgoing{
		outgoing("A1", "alice@laptop", sample, to...),
		outgoing("A2", "alice@laptop", sample, "next@example.org"),
	})
	for i, r := range res[0] {
		if r.Status != outbox.Sent {
			t.Errorf("recipient %d: %s", i, r.Text())
		}
	}
	status(t, res[1], outbox.Sent)
	if sizes := checkOnce(t, be.received(), append(to, "next@example.org")); !slices.Equal(sizes, []int{3, 3, 2, 1}) {
		t.Errorf("transactions of %v recipients, want [3 3 2 1]", sizes)
	}
	if n := be.conns.Load(); n != 4 {
		t.Errorf("%d connections, want 4", n)
	}
}

// TestTooManyRecipientsPerConnection: a server that counts recipients
// per connection refuses the first recipient of a later transaction with
// 452 4.5.3; the rest go on a new connection at once.
func TestTooManyRecipientsPerConnection(t *testing.T) {
	be := &backend{connRcpt: 5}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	to := rcpts(12)
	res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, to...)})
	for i, r := range res[0] {
		if r.Status != outbox.Sent {
			t.Errorf("recipient %d: %s", i, r.Text())
		}
	}
	if sizes := checkOnce(t, be.received(), to); !slices.Equal(sizes, []int{5, 5, 2}) {
		t.Errorf("transactions of %v recipients, want [5 5 2]", sizes)
	}
	if n := be.conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}
