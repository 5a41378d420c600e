package maildir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Maildir whose new/ is missing — a tool that made only tmp/, a
// cleanup that removed an empty new/ — is completed, as a missing
// Maildir is created: otherwise every delivery to it, and every DSN for
// it, fails until the message expires.
func TestDeliverCompletesMaildir(t *testing.T) {
	for _, missing := range []string{"new", "tmp"} {
		d := Dir(filepath.Join(t.TempDir(), "Maildir"))
		if err := d.Init(); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(string(d), missing))
		if err := d.Deliver("1.A.host", []byte("X: 1\n"), strings.NewReader("\nbody\n")); err != nil {
			t.Errorf("without %s/: %v", missing, err)
			continue
		}
		if err := d.Sync(); err != nil {
			t.Errorf("without %s/: sync: %v", missing, err)
		}
		if ok, _ := d.Has("1.A.host"); !ok {
			t.Errorf("without %s/: the copy is not there", missing)
		}
		for _, sub := range []string{"tmp", "new", "cur"} {
			if st, err := os.Stat(filepath.Join(string(d), sub)); err != nil || !st.IsDir() {
				t.Errorf("without %s/: %s/ after delivery: %v", missing, sub, err)
			}
		}
	}
}
