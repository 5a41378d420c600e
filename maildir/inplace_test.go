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

// In a directory the user may not create files in (a /var/mail
// spool) Rewrite writes the new contents over the mbox in place. New
// contents longer than the old (a Status field added to each new
// message) need more blocks; on a full file system the write stops
// part way: the mbox is left holding the new text cut off where the
// disk ran out (the last message torn), and the only whole copy, the
// private temporary file, is removed. Needs root (a small tmpfs).
func TestRewriteInPlaceFullDisk(t *testing.T) {
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
	t.Setenv("HOME", t.TempDir())
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

// On a full file system the dotlock cannot be created (ENOSPC); mail
// must still open the mbox, under the kernel locks, and a rewrite that
// only removes messages at the end (a cut, no new block) must work: a
// user deletes mail exactly when the disk is full. One that removes
// the first message needs room for its record, found in the state
// directory on another file system. Needs root (a small tmpfs).
func TestFullDiskOpenAndDelete(t *testing.T) {
	dir := t.TempDir()
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).Run(); err != nil {
		t.Skip("cannot mount a small tmpfs (not root?):", err)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	path := filepath.Join(dir, "box")
	appendN(t, path, 1, 3)
	fill, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := fill.Write(make([]byte, 512)); err != nil {
			break
		}
	}
	fill.Close()
	if err := os.WriteFile(filepath.Join(dir, "probe"), []byte("x"), 0o600); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("the file system is not full: %v", err)
	}
	// Delete the last message: a cut.
	f, msgs, size := openAll(t, path)
	keep := []Kept{{Off: msgs[0].Off, Len: msgs[0].Len, Status: "RO"}, {Off: msgs[1].Off, Len: msgs[1].Len, Status: "O"}}
	// As written by Append, the messages have no Status field yet:
	// give them theirs first, on a disk with room, then fill again.
	os.Remove(filepath.Join(dir, "fill"))
	if _, err := Mbox(path).Rewrite(f, size, slices.Values(append(keep, Kept{Off: msgs[2].Off, Len: msgs[2].Len, Status: "O"}))); err != nil {
		t.Fatal(err)
	}
	fill, _ = os.Create(filepath.Join(dir, "fill"))
	for {
		if _, err := fill.Write(make([]byte, 512)); err != nil {
			break
		}
	}
	fill.Close()
	f, msgs, size = openAll(t, path)
	keep = []Kept{{Off: msgs[0].Off, Len: msgs[0].Len, Status: "RO"}, {Off: msgs[1].Off, Len: msgs[1].Len, Status: "O"}}
	if _, err := Mbox(path).Rewrite(f, size, slices.Values(keep)); err != nil {
		t.Fatalf("deleting the last message on a full disk: %v", err)
	}
	// Delete the first: the rest moves, recorded in the state directory.
	f, msgs, size = openAll(t, path)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	keep = []Kept{{Off: msgs[1].Off, Len: msgs[1].Len, Status: "O"}}
	if _, err := Mbox(path).Rewrite(f, size, slices.Values(keep)); err != nil {
		t.Fatalf("deleting the first message on a full disk: %v", err)
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\nSubject: "); n != 1 || !strings.Contains(string(b), "Subject 2\n") {
		t.Errorf("the mbox holds:\n%s", b)
	}
}
