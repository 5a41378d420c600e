package mailx

import (
	"os"
	"strings"
	"testing"
)

// "~/dir/" names a Maildir as "$HOME/dir/" and "dir/" do: the trailing
// slash survives the expansion of "~/" (it was lost, and save made an
// mbox file that -f ~/dir/ could then not read).
func TestTildeSlashIsMaildir(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 2)
	if _, e, code := h.mail(t, "c 1 ~/md/\nq\n"); code != 0 {
		t.Fatal(e)
	}
	if fi, err := os.Stat(h.path("md/new")); err != nil || !fi.IsDir() {
		t.Fatalf("copy to ~/md/ made no Maildir: %v", err)
	}
	out, e, code := h.mail(t, "", "-H", "-f", h.path("md")+"/")
	if code != 0 || !strings.Contains(out, "Subject 1") {
		t.Errorf("-f ~/md/: exit %d\n%s%s", code, out, e)
	}
}
