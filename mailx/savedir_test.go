package mailx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// save and copy to a file in a directory that does not exist fail, as
// in mailx and s-nail, and the message stays in the mailbox: a mistyped
// path made the directories, filed the message there and quit removed
// it from the mailbox. A +name in a folder directory not made yet still
// makes it.
func TestSaveToMissingDirectory(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 2)
	missing := h.path("mial/archive")
	out, stderr, _ := h.mail(t, "s 1 "+missing+"\nc 2 "+h.path("no/such/")+"\nq\n")
	if strings.Count(out+stderr, "no such directory") != 2 {
		t.Errorf("output:\n%s%s", out, stderr)
	}
	for _, d := range []string{"mial", "no"} {
		if _, err := os.Stat(h.path(d)); err == nil {
			t.Errorf("%s was made", d)
		}
	}
	names, _ := filepath.Glob(h.path("Maildir/cur/*"))
	if len(names) != 2 {
		t.Errorf("%d messages left in the Maildir, want 2", len(names))
	}

	// The folder directory itself is made for +name.
	h = newHome(t)
	deliverFixtures(t, h.path("Maildir"), 1)
	if _, stderr, code := h.mail(t, "s 1 +saved\nq\n"); code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(h.path("mail/saved")); err != nil {
		t.Errorf("+saved: %v", err)
	}
}
