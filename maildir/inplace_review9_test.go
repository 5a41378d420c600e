package maildir

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// G3: in a directory the user may not create files in (a /var/mail
// spool) Rewrite writes the new contents over the mbox in place. New
// contents longer than the old (a Status field added to each new
// message) need more blocks; on a full file system the write stops
// part way: the mbox is left holding the new text cut off where the
// disk ran out (the last message torn), and the only whole copy, the
// private temporary file, is removed. Needs root (a small tmpfs).
func TestReview9RewriteInPlaceFullDisk(t *testing.T) {
	dir := t.TempDir()
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).Run(); err != nil {
		t.Skip("cannot mount a small tmpfs (not root?):", err)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	path := filepath.Join(dir, "spool")
	appendN(t, path, 1, 400)
	// Fill the file system.
	fill, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := fill.Write(make([]byte, 512)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// Room for the dotlock only.
	st, _ := fill.Stat()
	fill.Truncate(st.Size() - 4096)
	fill.Close()
	before, _ := os.ReadFile(path)
	f, msgs, size := openAll(t, path)
	refuseNextTo(t)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	var keep []Kept
	for _, m := range msgs {
		keep = append(keep, Kept{Off: m.Off, Len: m.Len, Status: "O"})
	}
	_, err = Mbox(path).Rewrite(f, size, slices.Values(keep))
	t.Logf("Rewrite: %v", err)
	after, _ := os.ReadFile(path)
	if err != nil && !bytes.Equal(after, before) {
		n := strings.Count(string(after), "\nSubject: ")
		last := after[max(0, len(after)-200):]
		t.Errorf("the rewrite failed (%v) and left the mbox changed: %d of %d bytes, %d subjects, ends with:\n%s", err, len(after), len(before), n, last)
	}
}
