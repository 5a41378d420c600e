package maildir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Maildir that is a symbolic link to a directory that does not exist
// (a disk not mounted, a data directory moved) is not made: the error
// says that it is a link, and to what, rather than "mkdir .../tmp: no
// such file or directory", which names a directory the user never
// thinks of.
func TestInitDanglingLink(t *testing.T) {
	home := t.TempDir()
	target := filepath.Join(home, "data", "real", "Maildir")
	link := filepath.Join(home, "Maildir")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	err := Dir(link + "/").Init()
	if err == nil || !strings.Contains(err.Error(), link+" is a symbolic link to "+target+", which does not exist") {
		t.Errorf("Init: %v", err)
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("the link's target was made")
	}
}
