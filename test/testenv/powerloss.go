package testenv

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
// at the file system in img, which has no room for its own copy).
//
// The copy must be of one instant: a block read while the loop device
// writes it would be torn, half old and half new, which no disk leaves
// (fsck then throws away a whole directory block, with every name in
// it). So a program writing to the file system should be stopped
// (StopHome) around the call, and Snapshot copies only while the
// loop device has no write in flight, and copies again when the
// device's count of finished writes moved during the copy.
func Snapshot(t *testing.T, img string) string {
	t.Helper()
	dir, err := os.MkdirTemp(startTempDir, "hpsnap")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	snap := filepath.Join(dir, "snap.img")
	dev := LoopOf(img)
	for try := 0; ; try++ {
		before, quiet := loopWrites(t, dev)
		copyFile(t, img, snap)
		after, _ := loopWrites(t, dev)
		if dev == "" || quiet && before == after {
			return snap
		}
		if try == 50 {
			t.Fatalf("the loop device of %s kept writing while it was copied", img)
		}
	}
}

// copyFile copies src into dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// LoopOf returns the name of the loop device ("loop3") whose backing
// file is img, or "" when none is found.
func LoopOf(img string) string {
	devs, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, f := range devs {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == img {
			return filepath.Base(filepath.Dir(filepath.Dir(f)))
		}
	}
	return ""
}

// loopWrites waits up to 5 s for device dev to have no write in flight
// and returns its count of finished writes, and whether it was quiet.
func loopWrites(t *testing.T, dev string) (string, bool) {
	t.Helper()
	if dev == "" {
		return "", true
	}
	for i := 0; ; i++ {
		in, err := os.ReadFile(filepath.Join("/sys/block", dev, "inflight"))
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.ReadFile(filepath.Join("/sys/block", dev, "stat"))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(in))
		if len(f) == 2 && f[1] == "0" {
			// Field 5 of stat: writes completed.
			return strings.Fields(string(st))[4], true
		}
		if i == 500 {
			return "", false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// StopHome stops process pid and every other process running with HOME
// home (a background delivery, a command the agent runs), and returns
// once none of their threads is inside a system call any more: a thread
// in the middle of an fsync goes on writing until the call returns. The
// function returned lets them all go on (SIGCONT), but for one that was
// stopped already (by an earlier StopHome whose processes the test keeps
// stopped).
func StopHome(t *testing.T, home string, pid int) func() {
	t.Helper()
	stopped := map[int]bool{}
	already := map[int]bool{}
	stop := func(p int) {
		if stopped[p] || already[p] {
			return
		}
		if allStopped(p) {
			already[p] = true
			return
		}
		stopped[p] = true
		syscall.Kill(p, syscall.SIGSTOP)
		for i := 0; !allStopped(p); i++ {
			if i == 5000 {
				t.Fatalf("process %d did not stop within 10 s", p)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	stop(pid)
	needle := []byte("HOME=" + home + "\x00")
	for {
		found := false
		ents, _ := os.ReadDir("/proc")
		for _, ent := range ents {
			p, err := strconv.Atoi(ent.Name())
			if err != nil || p == os.Getpid() || stopped[p] || already[p] {
				continue
			}
			b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "environ"))
			if err == nil && (bytes.HasPrefix(b, needle) || bytes.Contains(b, append([]byte{0}, needle...))) {
				stop(p)
				found = true
			}
		}
		// A shell may have started another program as it was stopped.
		if !found {
			break
		}
	}
	return func() {
		for p := range stopped {
			syscall.Kill(p, syscall.SIGCONT)
		}
	}
}

// allStopped reports whether every thread of process pid is stopped, or
// the process has ended.
func allStopped(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		// The state follows the command name in parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || !bytes.ContainsRune([]byte("TtZX"), rune(b[i+2])) {
			return false
		}
	}
	return true
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
