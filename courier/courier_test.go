package courier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/maildir"
	"homepost/outbox"
)

var when = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newCopy is a copy of a short message for rcpt, with its trace header.
func newCopy(to, name, sender, rcpt, body string) *Copy {
	hdr := Trace{Sender: sender, DeliveredTo: rcpt, ID: "Q1", Host: "box", Time: when}.Header()
	return &Copy{ID: "Q1", Name: name, Sender: sender, To: to, Rcpt: rcpt, Orig: rcpt, Header: hdr,
		Body: func() io.Reader { return strings.NewReader(body) }, Size: int64(len(body)), Time: when}
}

func TestMaildirDeliversAndFindsEarlierCopy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Maildir") + "/"
	c := newCopy(dir, "1.Q1R0.box", "bob@x", "alice@box", "Subject: hi\n\nbody\n")
	res := Maildir{}.Deliver(context.Background(), []*Copy{c})
	if len(res) != 1 || res[0].Status != outbox.Sent || res[0].Reason != "delivered to maildir" {
		t.Fatalf("first: %+v", res)
	}
	got, err := os.ReadFile(filepath.Join(dir, "new", c.Name))
	if err != nil || string(got) != string(c.Header)+"Subject: hi\n\nbody\n" {
		t.Fatalf("copy %q %v", got, err)
	}
	// The reader moved it to cur/ and flagged it; a retry after a crash
	// finds it there and stores nothing.
	if err := os.Rename(filepath.Join(dir, "new", c.Name), filepath.Join(dir, "cur", c.Name+":2,S")); err != nil {
		t.Fatal(err)
	}
	c.Recovered = true
	res = Maildir{}.Deliver(context.Background(), []*Copy{c})
	if res[0].Status != outbox.Sent || res[0].Reason != "already delivered" {
		t.Fatalf("retry: %+v", res)
	}
	if names, _ := os.ReadDir(filepath.Join(dir, "new")); len(names) != 0 {
		t.Fatalf("stored twice: %v", names)
	}
	// Without Recovered, nobody looks: the copy is stored.
	c.Recovered = false
	Maildir{}.Deliver(context.Background(), []*Copy{c})
	if names, _ := os.ReadDir(filepath.Join(dir, "new")); len(names) != 1 {
		t.Fatalf("new/: %v", names)
	}
}

// A Maildir that cannot be written defers (the user can fix it); the
// other copies of the batch are not affected.
func TestMaildirErrorDefers(t *testing.T) {
	base := t.TempDir()
	blocker := filepath.Join(base, "file")
	os.WriteFile(blocker, nil, 0o600)
	good := filepath.Join(base, "good") + "/"
	res := Maildir{}.Deliver(context.Background(), []*Copy{
		newCopy(blocker+"/Maildir/", "1.Q1R0.box", "bob@x", "alice@box", "x\n"),
		newCopy(good, "1.Q1R1.box", "bob@x", "alice@box", "x\n"),
	})
	if res[0].Status != outbox.Deferred || !strings.HasPrefix(res[0].DSN, "4.") || res[1].Status != outbox.Sent {
		t.Fatalf("%+v", res)
	}
}

func TestMboxAppendsAndFindsEarlierCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	var m Mbox
	c := newCopy(path, "", "bob@x", "alice@box", "Subject: hi\n\nFrom here\n")
	var marks []maildir.Mark
	c.Mark = func(mk maildir.Mark) error {
		marks = append(marks, mk)
		return nil
	}
	if res := m.Deliver(context.Background(), []*Copy{c}); res[0].Status != outbox.Sent || res[0].Reason != "delivered to mailbox" {
		t.Fatalf("%+v", res)
	}
	want := "From bob@x Sun Mar  1 12:00:00 2026\n" + string(c.Header) + "Subject: hi\n\n>From here\n\n"
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Fatalf("mbox:\n%q\nwant\n%q", got, want)
	}
	if len(marks) != 1 || marks[0].Off != 0 || marks[0].Len != int64(len(want)) {
		t.Fatalf("marks %+v", marks)
	}
	// The retry of an attempt whose result was not recorded reads the
	// mbox where the attempt's mark says, and finds the copy whole.
	c.Recovered, c.Marked = true, &marks[0]
	if res := m.Deliver(context.Background(), []*Copy{c}); res[0].Reason != "already delivered" {
		t.Fatalf("retry: %+v", res)
	}
	// A DSN for the same message and the same user is another copy,
	// with no mark of its own.
	dsn := newCopy(path, "", "", "alice@box", "Subject: failure\n\n")
	dsn.Recovered = true
	if res := m.Deliver(context.Background(), []*Copy{dsn}); res[0].Reason != "delivered to mailbox" {
		t.Fatalf("DSN: %+v", res)
	}
	if got, _ := os.ReadFile(path); strings.Count(string(got), "\nFrom ") != 1 || !strings.Contains(string(got), "From MAILER-DAEMON ") {
		t.Fatalf("mbox:\n%s", got)
	}
}

// A copy cut off by a crash is cut back before the copy is appended
// again; a mark that cannot be recorded stops the append.
func TestMboxCutsOffTornCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	var m Mbox
	c := newCopy(path, "", "bob@x", "alice@box", "Subject: big\n\n"+strings.Repeat("line\n", 1000))
	var mark maildir.Mark
	c.Mark = func(mk maildir.Mark) error { mark = mk; return nil }
	m.Deliver(context.Background(), []*Copy{c})
	whole, _ := os.ReadFile(path)
	os.Truncate(path, int64(len(whole)/2))
	c.Marked = &mark
	if res := m.Deliver(context.Background(), []*Copy{c}); res[0].Status != outbox.Sent || !strings.Contains(res[0].Reason, "cut off") {
		t.Fatalf("%+v", res)
	}
	if got, _ := os.ReadFile(path); string(got) != string(whole) {
		t.Fatalf("mbox holds %d bytes, want the one whole copy of %d", len(got), len(whole))
	}
	c.Marked = nil
	c.Mark = func(maildir.Mark) error { return errors.New("journal: disk full") }
	if res := m.Deliver(context.Background(), []*Copy{c}); res[0].Status != outbox.Deferred {
		t.Fatalf("unrecorded append: %+v", res)
	}
	if got, _ := os.ReadFile(path); len(got) != len(whole) {
		t.Fatalf("appended without a mark")
	}
}

// A mailbox that stayed locked is not waited for again within a minute.
func TestMboxRemembersLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	now := when
	m := &Mbox{Now: func() time.Time { return now }}
	m.locked = map[string]time.Time{path: now}
	c := newCopy(path, "", "bob@x", "alice@box", "x\n")
	res := m.Deliver(context.Background(), []*Copy{c, c})
	for _, r := range res {
		if r.Status != outbox.Deferred || !strings.Contains(r.Reason, "locked by another program") {
			t.Fatalf("%+v", res)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("appended to a mailbox remembered as locked")
	}
	now = now.Add(time.Minute)
	if res := m.Deliver(context.Background(), []*Copy{c}); res[0].Status != outbox.Sent {
		t.Fatalf("a minute later: %+v", res)
	}
	if _, ok := m.locked[path]; ok {
		t.Fatal("lock still remembered after a delivery")
	}
}

func TestCommandCourier(t *testing.T) {
	e := newEnv(t, "")
	out := filepath.Join(t.TempDir(), "out")
	c := newCopy("cat > "+out+"; echo $RECIPIENT $ORIGINAL_RECIPIENT >> "+out, "", "bob@x", "alice@box", "body\n")
	c.Orig = "root"
	res := Command{Config: e.cfg}.Deliver(context.Background(), []*Copy{c})
	if res[0].Status != outbox.Sent {
		t.Fatalf("%+v", res)
	}
	if got, _ := os.ReadFile(out); string(got) != string(c.Header)+"body\nalice@box root\n" {
		t.Fatalf("command got %q", got)
	}
}

type fakeSender struct {
	msgs [][]string // recipients of each message, per call
	body []string
	res  func(rcpt string) Result
}

func (f *fakeSender) Send(_ context.Context, msgs []*Outgoing) [][]Result {
	out := make([][]Result, len(msgs))
	for k, m := range msgs {
		f.msgs = append(f.msgs, m.Rcpts)
		b, _ := io.ReadAll(m.Open())
		if int64(len(b)) != m.Size {
			panic("size")
		}
		f.body = append(f.body, string(b))
		for _, r := range m.Rcpts {
			out[k] = append(out[k], f.res(r))
		}
	}
	return out
}

// The copies of one message with the same header travel together, in
// one call for the whole batch; each copy gets its recipient's result.
func TestRelayGroupsCopies(t *testing.T) {
	mk := func(id, to, hdr string) *Copy {
		return &Copy{ID: id, To: to, Header: []byte(hdr), Body: func() io.Reader { return strings.NewReader("m\n") }, Size: 2}
	}
	f := &fakeSender{res: func(r string) Result {
		if r == "bad@x" {
			return Perm("5.1.1", "no such user")
		}
		return OK("250 ok")
	}}
	copies := []*Copy{mk("A", "a@x", ""), mk("A", "bad@x", ""), mk("A", "c@x", "Delivered-To: me@box\n"), mk("B", "a@x", "")}
	res := Relay{Sender: f}.Deliver(context.Background(), copies)
	if got := [3]int{len(f.msgs[0]), len(f.msgs[1]), len(f.msgs[2])}; len(f.msgs) != 3 || got != [3]int{2, 1, 1} {
		t.Fatalf("messages %v", f.msgs)
	}
	if f.body[1] != "Delivered-To: me@box\nm\n" || f.body[0] != "m\n" {
		t.Fatalf("bodies %q", f.body)
	}
	if res[0].Status != outbox.Sent || res[1].Status != outbox.Bounced || res[2].Status != outbox.Sent || res[3].Status != outbox.Sent {
		t.Fatalf("%+v", res)
	}
	// A sender that answers too little leaves the rest deferred.
	short := Relay{Sender: senderFunc(func(context.Context, []*Outgoing) [][]Result { return nil })}
	if res := short.Deliver(context.Background(), copies[:1]); res[0].Status != outbox.Deferred {
		t.Fatalf("%+v", res)
	}
}

type senderFunc func(context.Context, []*Outgoing) [][]Result

func (f senderFunc) Send(ctx context.Context, m []*Outgoing) [][]Result { return f(ctx, m) }

func TestHold(t *testing.T) {
	h := Hold{Result: Temp("4.4.0", "no smarthost")}
	res := h.Deliver(context.Background(), make([]*Copy, 3))
	if len(res) != 3 || res[2].Text() != "4.4.0 no smarthost" {
		t.Fatalf("%+v", res)
	}
}

// When the copies and the claims cannot be made durable, no copy is
// published: nothing in new/, nothing left in tmp/, every copy waits
// (a temporary failure), and the claims are still to be made durable.
// The next attempt delivers them all, and the claims with them.
func TestMaildirSyncFailurePublishesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Maildir") + "/"
	claimDir := t.TempDir()
	var copies []*Copy
	for i := range 3 {
		copies = append(copies, newCopy(dir, fmt.Sprintf("1.Q1R%d.box", i), "bob@x", "alice@box", "Subject: hi\n\nbody\n"))
	}
	claims := NewClaims(claimDir)
	ctx := WithClaims(context.Background(), claims)
	orig := syncBatch
	t.Cleanup(func() { syncBatch = orig })
	var asked []string
	syncBatch = func(files []*os.File, dirs []string) error {
		asked = dirs
		return errors.New("EIO, as a failing disk says")
	}
	for _, r := range (Maildir{}).Deliver(ctx, copies) {
		if r.Status != outbox.Deferred {
			t.Errorf("a copy not made durable: %+v", r)
		}
	}
	if len(asked) != 1 || asked[0] != claimDir {
		t.Errorf("the claims were not synced with the copies: %v", asked)
	}
	for _, sub := range []string{"new", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(dir, sub)); len(ents) != 0 {
			t.Errorf("%s/ holds %d files after a failed sync", sub, len(ents))
		}
	}
	if p := claims.Pending(); len(p) != 1 {
		t.Errorf("the claims count as durable after a failed sync: %v", p)
	}
	syncBatch = orig
	for _, r := range (Maildir{}).Deliver(ctx, copies) {
		if r.Status != outbox.Sent {
			t.Errorf("retry: %+v", r)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "new")); len(ents) != 3 {
		t.Errorf("retry: %d copies in new/", len(ents))
	}
	if p := claims.Pending(); len(p) != 0 {
		t.Errorf("the claims are still pending after the copies' sync: %v", p)
	}
}
