package testenv

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// PowerLoss returns what a power loss at this instant would leave of
// the file system made by Ext4Image in img: a copy of the image taken
// now, repaired as the next boot would (e2fsck, which replays a journal
// and mends what a file system without one left half written). Read it
// with ReadImageDir.
//
// Why it models a power loss: the loop device writes what the file
// system sends it into img, so img holds what the kernel has written
// and nothing that is still only in its caches (dirty pages, inodes and
// directory blocks not yet written back, which the kernel's flusher
// leaves alone for half a minute). What a sync did not write is not in
// the copy. It overstates what survives in one way only: a write that
// reached img but that the disk's own cache could still lose before the
// next flush. So it shows what a sync covers, not the order of flushes
// (the fsync model of package test/sweep checks that).
func PowerLoss(t *testing.T, img string) string {
	t.Helper()
	fsck := lookSbin("e2fsck")
	if fsck == "" {
		t.Skip("SKIP: no e2fsck")
	}
	snap := filepath.Join(t.TempDir(), "snap.img")
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(snap)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	// Exit status 1 and 2: errors corrected; 4 and above: left.
	out, err := exec.Command(fsck, "-f", "-y", snap).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() >= 4 {
		t.Fatalf("e2fsck of the image left errors: %v\n%s", err, out)
	} else if err != nil && !ok {
		t.Fatalf("e2fsck: %v", err)
	}
	return snap
}

// ReadImageDir returns the files of the directory at path (from the
// root of the file system) in an image that PowerLoss returned, name to
// content; nil when the directory is not there.
func ReadImageDir(t *testing.T, snap, path string) map[string]string {
	t.Helper()
	debugfs := lookSbin("debugfs")
	if debugfs == "" {
		t.Skip("SKIP: no debugfs")
	}
	out := t.TempDir()
	// rdump copies the directory, with what it holds, into out; a
	// missing one is an error printed, with exit status 0.
	if b, err := exec.Command(debugfs, "-R", "rdump "+path+" "+out, snap).CombinedOutput(); err != nil {
		t.Fatalf("debugfs rdump %s: %v\n%s", path, err, b)
	}
	dir := filepath.Join(out, filepath.Base(path))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	files := make(map[string]string, len(ents))
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}
