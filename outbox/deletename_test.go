package outbox

import (
	"errors"
	"os"
	"testing"
	"time"
)

// A message a claim left under two names (linked into cur/, its name in
// new/ not yet dropped: a running agent's claim, or one a crash cut
// short) is deleted under both: the name left behind would otherwise be
// delivered after the delete said "Deleted".
func TestDeleteRemovesEveryName(t *testing.T) {
	d := Dir(t.TempDir())
	env := &Envelope{Sender: "a@example.org", Arrival: time.Unix(1700000000, 0), Rcpts: []Recipient{{Addr: "root", Parent: -1}}}
	id := queue(t, d, env, "Subject: x\n\nbody\n")
	names, _ := d.Names("new")
	cur, err := d.Take(names[0])
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Find(id)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Delete(p); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	for _, q := range []string{d.Path("new", names[0]), cur} {
		if _, err := os.Lstat(q); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after the delete: %v", q, err)
		}
	}
	if p, err := d.Find(id); err == nil {
		t.Errorf("the deleted message is still queued at %s", p)
	}
}
