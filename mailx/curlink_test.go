package mailx

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A message kept in a Maildir goes from new/ to cur/ by a link, cur/
// fsynced, then the unlink from new/, so that a power loss leaves it in
// one directory at least (a rename would take it out of new/ at once,
// and another program's fsync of new/ could make that durable before
// cur/ held it). A quit killed between the link and the unlink leaves
// the file under both names: the next session shows it once, and its
// quit drops the name left in new/.
func TestMaildirLinkLeftInNewShownOnce(t *testing.T) {
	h := newHome(t)
	md := h.path("Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	for i := 1; i <= 3; i++ {
		_, hd, b := testMessage(i)
		os.WriteFile(filepath.Join(md, "new", fmt.Sprintf("170000000%d.M1P1.host", i)), []byte(hd+b), 0o600)
	}
	// Message 2 as the killed quit left it.
	if err := os.Link(filepath.Join(md, "new", "1700000002.M1P1.host"), filepath.Join(md, "cur", "1700000002.M1P1.host:2,")); err != nil {
		t.Fatal(err)
	}
	o, e, _ := h.mail(t, "q\n", "-H")
	if n := strings.Count(o, "Subject 2"); n != 1 {
		t.Errorf("mail -H lists message 2 %d times, want once:\n%s%s", n, o, e)
	}
	if n := strings.Count(o, "Subject "); n != 3 {
		t.Errorf("mail -H lists %d messages, want 3:\n%s%s", n, o, e)
	}
	o, e, _ = h.mail(t, "p 3\nq\n")
	if n := strings.Count(o, "Subject 2"); n != 1 {
		t.Errorf("the session lists message 2 %d times, want once:\n%s%s", n, o, e)
	}
	names := func(sub string) []string {
		es, _ := os.ReadDir(filepath.Join(md, sub))
		var n []string
		for _, e := range es {
			n = append(n, e.Name())
		}
		return n
	}
	if n := names("new"); len(n) != 0 {
		t.Errorf("after quit new/ holds %v, want nothing", n)
	}
	if got, want := strings.Join(names("cur"), " "), "1700000001.M1P1.host:2, 1700000002.M1P1.host:2, 1700000003.M1P1.host:2,S"; got != want {
		t.Errorf("after quit cur/ holds %s, want %s", got, want)
	}
	// A message deleted loses both its names.
	os.Link(filepath.Join(md, "cur", "1700000001.M1P1.host:2,"), filepath.Join(md, "new", "1700000001.M1P1.host"))
	o, e, _ = h.mail(t, "d 1\nq\n")
	if got, want := strings.Join(append(names("new"), names("cur")...), " "), "1700000002.M1P1.host:2, 1700000003.M1P1.host:2,S"; got != want {
		t.Errorf("after d 1 and quit the Maildir holds %s, want %s\n%s%s", got, want, o, e)
	}
}
