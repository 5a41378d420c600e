package mailx

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/config"
)

// A note names the file appended to by its absolute path: a save to a
// relative path ("save 1 folder") is resolved by a mail started in
// another directory.
func TestAppendNoteNamesAbsolutePath(t *testing.T) {
	state := t.TempDir()
	work := t.TempDir()
	t.Chdir(work)
	e := &env{cfg: &config.Config{}, set: newSettings(), out: bufio.NewWriter(io.Discard), errw: io.Discard}
	e.cfg.StateDir = state
	a, err := e.openAppender("folder")
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	body := func() io.Reader { return strings.NewReader("body\n") }
	if err := a.append("me@example.org", time.Unix(1609577400, 0), []byte("Subject: s\n\n"), body); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(a.name)
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := parseNote(a.name, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(work, "folder"); n.Path != want {
		t.Errorf("the note names %q, want %q", n.Path, want)
	}
}

// A note whose file is not found (removed or renamed since, or named
// relative to another directory) is kept and said, not dropped: a
// cut-off copy may remain in that file wherever it is.
func TestAppendNoteOfMissingFileKept(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 1)
	saved := h.path("saved")
	if _, stderr, code := h.mail(t, "copy 1 "+saved+"\nx\n"); code != 0 {
		t.Fatalf("copy: exit %d: %s", code, stderr)
	}
	whole, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	notes := h.path(".local/state/homepost/" + noteDir)
	writeNote(t, notes, saved, [][]byte{whole}, "")
	if err := os.Rename(saved, h.path("elsewhere")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "mail", "-n", "-e")
	cmd.Env = h.env
	cmd.Dir = "/"
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "not found") || !strings.Contains(string(out), saved) {
		t.Errorf("mail -e said %q, want that %s is not found", out, saved)
	}
	if left, _ := os.ReadDir(notes); len(left) != 1 {
		t.Errorf("notes now: %v, want the note kept", left)
	}
}
