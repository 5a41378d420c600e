package mailx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A trashed message (Maildir T, another reader's delete) that the user
// undeletes loses its T on quit, also when another program renamed the
// file during the session (here: added R): kept with T, the other
// reader's purge removed a message the user had taken back.
func TestUndeletedTrashedRenamedMeanwhile(t *testing.T) {
	h := newHome(t)
	md := h.path("tr")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	old := filepath.Join(md, "cur", "1700000001.M1P1.host:2,ST")
	if err := os.WriteFile(old, []byte("From: a@b.example\nSubject: trashed\n\nx\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(md, "cur", "1700000001.M1P1.host:2,RST")
	if _, e, code := h.mail(t, "u 1\n!mv "+old+" "+renamed+"\nq\n", "-f", md+"/"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	n, _ := filepath.Glob(filepath.Join(md, "cur", "*"))
	if len(n) != 1 || strings.Contains(filepath.Base(n[0])[strings.Index(filepath.Base(n[0]), ":2,"):], "T") {
		t.Errorf("after undelete, the file renamed meanwhile: %v", n)
	}
}
