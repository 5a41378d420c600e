package safeio_test

import (
	"os"
	"path/filepath"
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
