package courier

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/maildir"
	"homepost/outbox"
)

// A copy for an mbox path that is a directory with cur/, new/ and tmp/
// goes to that Maildir, as mail(1) reads it: a ~/.forward line written
// without its trailing '/' and queued as an mbox target (before the
// directory was made a Maildir, or by an earlier version) lands in new/
// once, and a retry after a crash finds it there. A directory that is no
// Maildir waits, with a reason that says what to write, and nothing is
// made beside it or in it; the mbox copy of the same batch is appended.
func TestMboxPathThatIsADirectory(t *testing.T) {
	base := t.TempDir()
	lists := filepath.Join(base, "lists")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(lists, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	plain := filepath.Join(base, "plain")
	if err := os.Mkdir(plain, 0o700); err != nil {
		t.Fatal(err)
	}
	mbox := filepath.Join(base, "mbox")
	var m Mbox
	md := newCopy(lists, "1.Q1R0.box", "bob@x", "alice@box", "Subject: lists\n\nbody\n")
	md.Mark = func(maildir.Mark) error {
		t.Error("a copy for a Maildir was marked as an mbox append")
		return nil
	}
	dir := newCopy(plain, "1.Q1R1.box", "bob@x", "alice@box", "Subject: plain\n\nbody\n")
	mb := newCopy(mbox, "1.Q1R2.box", "bob@x", "alice@box", "Subject: mbox\n\nbody\n")
	res := m.Deliver(context.Background(), []*Copy{md, dir, mb})
	if len(res) != 3 {
		t.Fatalf("results %+v", res)
	}
	if res[0].Status != outbox.Sent || res[0].Reason != "delivered to maildir" {
		t.Errorf("Maildir without '/': %+v", res[0])
	}
	if got, err := os.ReadFile(filepath.Join(lists, "new", md.Name)); err != nil || string(got) != string(md.Header)+"Subject: lists\n\nbody\n" {
		t.Errorf("copy in new/: %q %v", got, err)
	}
	wantReason := plain + " is a directory but not a Maildir (no cur/, new/, tmp/): end the line that names it with '/' to make it one (the store: store = \"PATH/\" in config.toml)"
	if res[1].Status != outbox.Deferred || res[1].DSN != "4.2.0" || res[1].Reason != wantReason {
		t.Errorf("directory that is no Maildir: %+v, want 4.2.0 %q", res[1], wantReason)
	}
	if names, _ := os.ReadDir(plain); len(names) != 0 {
		t.Errorf("made in %s: %v", plain, names)
	}
	if _, err := os.Lstat(plain + ".lock"); !os.IsNotExist(err) {
		t.Errorf("%s.lock left: %v", plain, err)
	}
	if res[2].Status != outbox.Sent || res[2].Reason != "delivered to mailbox" {
		t.Errorf("mbox: %+v", res[2])
	}
	if b, _ := os.ReadFile(mbox); !strings.Contains(string(b), "Subject: mbox") {
		t.Errorf("mbox:\n%s", b)
	}

	md.Recovered = true
	if res := m.Deliver(context.Background(), []*Copy{md}); res[0].Status != outbox.Sent || res[0].Reason != "already delivered" {
		t.Errorf("retry: %+v", res)
	}
	if names, _ := os.ReadDir(filepath.Join(lists, "new")); len(names) != 1 {
		t.Errorf("new/ holds %d copies, want 1", len(names))
	}
	if names, _ := os.ReadDir(filepath.Join(lists, "tmp")); len(names) != 0 {
		t.Errorf("tmp/ holds %d files", len(names))
	}
}
