package safeio_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"homepost/safeio"
	"homepost/test/testenv"
)

// TestFsyncCoversRename checks which file systems SyncRenamed trusts to
// make a renamed file's new name durable by an fsync of the file alone:
// ext4 with a journal, whose fsync commits the rename's transaction,
// and ext4 without one, whose fsync writes the new name's directory
// (TestSyncRenamedPowerLoss), but not a file system kept in memory.
func TestFsyncCoversRename(t *testing.T) {
	cases := []struct {
		name string
		dir  func(t *testing.T) string
		want bool
	}{
		{"ext4 with a journal", func(t *testing.T) string { return testenv.Ext4(t, true) }, true},
		{"ext4 without a journal", func(t *testing.T) string { return testenv.Ext4(t, false) }, true},
		{"tmpfs", func(t *testing.T) string {
			if safeio.InMemory("/dev/shm") == "" {
				t.Skip("SKIP: no tmpfs at /dev/shm")
			}
			d, err := os.MkdirTemp("/dev/shm", "hp")
			if err != nil {
				t.Skip("SKIP:", err)
			}
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := c.dir(t)
			for _, d := range []string{"tmp", "new"} {
				if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			f, err := os.Create(filepath.Join(dir, "tmp", "m"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString("Subject: x\n\nbody\n"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(f.Name(), filepath.Join(dir, "new", "m")); err != nil {
				t.Fatal(err)
			}
			if got := safeio.FsyncCoversRename(f); got != c.want {
				t.Errorf("FsyncCoversRename = %v, want %v", got, c.want)
			}
			if err := safeio.SyncRenamed(f, filepath.Join(dir, "new")); err != nil {
				t.Errorf("SyncRenamed: %v", err)
			}
		})
	}
}

// TestSyncRenamedFlushes counts the disk's flushes that SyncRenamed
// asks for on ext4 without a journal (the loop device's flush
// requests, /sys/block/DEV/stat): one, the fsync's, for a file renamed
// into a directory known durable at its size; more (a syncfs and its
// second flush besides) the first time a directory is seen, and when it
// has grown by a block since.
func TestSyncRenamedFlushes(t *testing.T) {
	mnt, img := testenv.Ext4Image(t, false)
	dev := testenv.LoopOf(img)
	if dev == "" {
		t.Skip("SKIP: the loop device of the image is not found")
	}
	flushes := func() int {
		b, err := os.ReadFile(filepath.Join("/sys/block", dev, "stat"))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b))
		if len(f) < 16 {
			t.Skip("SKIP: the kernel does not count flush requests")
		}
		n, err := strconv.Atoi(f[15])
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	newDir := filepath.Join(mnt, "new")
	for _, d := range []string{"tmp", "new"} {
		if err := os.Mkdir(filepath.Join(mnt, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	size := func() int64 {
		st, err := os.Stat(newDir)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	one := func(i int) int {
		name := fmt.Sprintf("%06d.a-name-as-long-as-the-outbox-gives-its-queue-files", i)
		f, err := os.Create(filepath.Join(mnt, "tmp", name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString("Subject: x\n\nbody\n"); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.Name(), filepath.Join(newDir, name)); err != nil {
			t.Fatal(err)
		}
		before := flushes()
		if err := safeio.SyncRenamed(f, newDir); err != nil {
			t.Fatal(err)
		}
		return flushes() - before
	}
	if n := one(0); n < 2 {
		t.Errorf("the first file in a directory not seen before: %d flush, want the syncfs's as well", n)
	}
	ones, grown := 0, 0
	for i := 1; i < 120; i++ {
		was := size()
		n := one(i)
		switch {
		case size() != was:
			grown++
			if n < 2 {
				t.Errorf("file %d: new/ grew from %d to %d bytes, and only %d flush", i, was, size(), n)
			}
		case n == 1:
			ones++
		default:
			t.Errorf("file %d: %d flushes, want 1 (new/ kept its size)", i, n)
		}
	}
	if grown == 0 || ones < 100 {
		t.Errorf("new/ grew %d times, %d files took one flush: the cases were not seen", grown, ones)
	}
}
