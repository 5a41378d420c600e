package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Ext4 mounts a new 64 MB ext4 file system, made in a file and mounted
// through a loop device, and returns its mount point, which the test's
// cleanup unmounts. journal chooses an ext4 with a journal (mkfs's
// default) or without one (-O ^has_journal). It needs root, mkfs.ext4 and
// loop devices; without them the test is skipped.
//
// Why: how homepost makes a file and its name durable depends on the
// file system (package safeio), and the machine's own disk is one kind
// only; a test of the other kind needs a file system of its own.
func Ext4(t *testing.T, journal bool) string {
	t.Helper()
	dir, _ := Ext4Image(t, journal)
	return dir
}

// Ext4Image is Ext4 that also returns the file the file system is made
// in, for PowerLoss.
func Ext4Image(t *testing.T, journal bool) (dir, img string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting a test file system needs root")
	}
	mkfs := lookSbin("mkfs.ext4")
	mount, umount := lookSbin("mount"), lookSbin("umount")
	if mkfs == "" || mount == "" || umount == "" {
		t.Skip("SKIP: no mkfs.ext4, mount or umount")
	}
	// Not under t.TempDir: a test may then make its TMPDIR the mount
	// point, and its temporary directories must be made there.
	imgDir, err := os.MkdirTemp("", "hpimg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(imgDir) })
	img = filepath.Join(imgDir, "ext4.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// No lazy initialisation: the kernel thread that would zero the
	// inode tables later writes and flushes the disk in the middle of
	// a test that counts its flushes or copies its image.
	args := []string{"-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"}
	if !journal {
		args = append(args, "-O", "^has_journal")
	}
	if out, err := exec.Command(mkfs, append(args, img)...).CombinedOutput(); err != nil {
		t.Skipf("SKIP: mkfs.ext4: %v: %s", err, out)
	}
	// A short path: the listener's Unix socket may be made under it.
	dir, err = os.MkdirTemp("", "hpfs")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mount, "-o", "loop", img, dir).CombinedOutput(); err != nil {
		os.Remove(dir)
		t.Skipf("SKIP: mount -o loop: %v: %s", err, out)
	}
	t.Cleanup(func() { unmount(t, umount, dir) })
	return dir, img
}

// unmount unmounts dir and removes it. A process the test started may
// still hold a file there for a moment: it tries again for 5 s.
func unmount(t *testing.T, umount, dir string) {
	for i := 0; ; i++ {
		out, err := exec.Command(umount, dir).CombinedOutput()
		if err == nil {
			break
		}
		if i == 50 {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	os.Remove(dir)
}

// lookSbin finds a system program on PATH or in the sbin directories,
// which a user's PATH may lack.
func lookSbin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
