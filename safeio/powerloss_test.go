package safeio_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/safeio"
	"homepost/test/testenv"
)

// TestSyncRenamedPowerLoss checks, on the running kernel, what
// FsyncCoversRename relies on: on ext4, with a journal and without, an
// fsync of a file begun after its rename into a directory makes the
// file and its new name survive a power loss. Files are written as the
// SMTP listener writes its queue files (the data, then the rename into
// new/, then the one fsync), 180 of them, so that new/ grows by several
// blocks; after each growth and every 30 files, the disk image is
// copied and repaired as a boot would (testenv.PowerLoss), and every
// file fsynced so far must be there, whole. So that the test can fail,
// a file renamed and not synced must be missing from such a copy.
func TestSyncRenamedPowerLoss(t *testing.T) {
	for _, journal := range []bool{true, false} {
		t.Run(fmt.Sprintf("journal=%v", journal), func(t *testing.T) {
			mnt, img := testenv.Ext4Image(t, journal)
			for _, d := range []string{"tmp", "new"} {
				if err := os.Mkdir(filepath.Join(mnt, d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			write := func(name, body string) *os.File {
				t.Helper()
				f, err := os.OpenFile(filepath.Join(mnt, "tmp", name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteString(body); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(f.Name(), filepath.Join(mnt, "new", name)); err != nil {
					t.Fatal(err)
				}
				return f
			}
			body := func(i int) string {
				return fmt.Sprintf("Subject: message %d\n\n%s\n", i, strings.Repeat("body ", 200+i))
			}

			// The control, before anything else is written: it is
			// looked at within milliseconds, long before the kernel's
			// flusher writes back by itself. A journaled file system
			// may commit by itself (every 5 s): the control is only
			// asked of the one without.
			if !journal {
				f := write("unsynced", "never synced\n")
				f.Close()
				if _, ok := testenv.ReadImageDir(t, testenv.PowerLoss(t, img), "/new")["unsynced"]; ok {
					t.Fatal("a file renamed and never synced is in the copy of the image: this way of looking cannot tell what a sync wrote")
				}
			}

			probe, err := os.Open(filepath.Join(mnt, "new"))
			if err != nil {
				t.Fatal(err)
			}
			covers := safeio.FsyncCoversRename(probe)
			probe.Close()
			if !covers {
				t.Skip("SKIP: FsyncCoversRename is false here: nothing relies on the fsync alone")
			}

			size := func() int64 {
				st, err := os.Stat(filepath.Join(mnt, "new"))
				if err != nil {
					t.Fatal(err)
				}
				return st.Size()
			}
			const n = 180
			grew := 0
			for i := range n {
				before := size()
				// A long name, as the outbox's: new/ takes a block
				// every few dozen.
				name := fmt.Sprintf("%06d.Q%012d.queue-file-name-as-long-as-the-outbox-gives", i, i)
				f := write(name, body(i))
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
				f.Close()
				if size() != before {
					grew++
				} else if i%30 != 29 && i != n-1 {
					continue
				}
				files := testenv.ReadImageDir(t, testenv.PowerLoss(t, img), "/new")
				for j := 0; j <= i; j++ {
					p := fmt.Sprintf("%06d.Q%012d.queue-file-name-as-long-as-the-outbox-gives", j, j)
					got, ok := files[p]
					if !ok {
						t.Fatalf("after message %d (directory %d bytes): %s, fsynced after its rename, is not in the image", i, size(), p)
					}
					if got != body(j) {
						t.Fatalf("after message %d: %s is in the image with %d bytes, not its %d", i, p, len(got), len(body(j)))
					}
				}
			}
			if grew < 2 {
				t.Errorf("new/ grew %d times in %d messages: the case of a new directory block was not seen", grew, n)
			}
		})
	}
}
