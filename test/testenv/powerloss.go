package testenv

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// PowerLoss returns what a power loss at this instant would leave of
// the file system made by Ext4Image in img: Snapshot, then Repair.
// Read it with ReadImageDir, or mount it with MountImage.
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
	snap := Snapshot(t, img)
	Repair(t, snap)
	return snap
}

// Snapshot copies img into a file of the test's, under the temporary
// directory the process started with (the test may have pointed TMPDIR
// at the file system in img, which has no room for its own copy). A
// program writing to the file system meanwhile should be stopped
// (SIGSTOP) around the call, so that the copy is of one instant.
func Snapshot(t *testing.T, img string) string {
	t.Helper()
	dir, err := os.MkdirTemp(startTempDir, "hpsnap")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	snap := filepath.Join(dir, "snap.img")
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
	return snap
}

// Repair runs e2fsck on a snapshot as the next boot would: it replays a
// journal, and mends what a file system without one left half written.
func Repair(t *testing.T, snap string) {
	t.Helper()
	fsck := lookSbin("e2fsck")
	if fsck == "" {
		t.Skip("SKIP: no e2fsck")
	}
	// Exit status 1 and 2: errors corrected; 4 and above: left.
	out, err := exec.Command(fsck, "-f", "-y", snap).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() >= 4 {
		t.Fatalf("e2fsck of the image left errors: %v\n%s", err, out)
	} else if err != nil && !ok {
		t.Fatalf("e2fsck: %v", err)
	}
}

// MountImage mounts a snapshot (through a loop device) and returns the
// mount point and a function that unmounts it and removes the point.
func MountImage(t *testing.T, snap string) (string, func()) {
	t.Helper()
	mount, umount := lookSbin("mount"), lookSbin("umount")
	dir, err := os.MkdirTemp(startTempDir, "hpsnapfs")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mount, "-o", "loop", snap, dir).CombinedOutput(); err != nil {
		os.Remove(dir)
		t.Fatalf("mount -o loop %s: %v: %s", snap, err, out)
	}
	done := false
	unmountOnce := func() {
		if !done {
			done = true
			unmount(t, umount, dir)
		}
	}
	t.Cleanup(unmountOnce)
	return dir, unmountOnce
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
	out, err := os.MkdirTemp(startTempDir, "hpdump")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(out)
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
