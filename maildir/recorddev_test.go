package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A rewrite record must be applied to its mbox whatever
// device number the kernel gives the file system when it is next locked.
// st_dev is not a property of the file: an NFS mount gets an anonymous
// one, different on each client and at each mount; so do btrfs
// subvolumes, and a disk may come back under another minor. A power loss
// is followed by a reboot and a new mount, and an NFS home is read from
// other machines. Here the file's device number is made to differ by
// rewriting the record (beside the mbox) or renaming it (the state
// directory's DEV-INO) as the next Lock sees them after such a mount;
// with a loop device mounted again on another /dev/loopN the real
// binary leaves the mailbox torn and the record set aside as
// ".unapplied".
func TestRecordAppliedUnderAnotherDeviceNumber(t *testing.T) {
	for _, spool := range []bool{false, true} {
		t.Run(fmt.Sprint("spool=", spool), func(t *testing.T) {
			state := t.TempDir()
			t.Setenv("XDG_STATE_HOME", state)
			t.Setenv("HOME", t.TempDir())
			dir := t.TempDir()
			path := filepath.Join(dir, "mbox")
			appendLong(t, path, 1, 3, 20)
			want := rewriteCopy(t, path, dropFirst)
			f, msgs, size := openAll(t, path)
			if spool {
				refuseNextTo(t)
			}
			stopAt = func(s string) error {
				if s == "sized" {
					return errors.New("stopped after " + s)
				}
				return nil
			}
			_, err := Mbox(path).Rewrite(f, size, slices.Values(dropFirst(msgs)))
			stopAt = func(string) error { return nil }
			if err == nil || !strings.Contains(err.Error(), "next opened") {
				t.Fatalf("Rewrite: %v", err)
			}
			recs := records(dir, state)
			if len(recs) != 1 {
				t.Fatalf("records: %v", recs)
			}
			tear(t, path, recs[0])
			// The same file, mounted again under another device
			// number: the record names it by its file system's id
			// (FileID), which the mount keeps.
			b, err := os.ReadFile(recs[0])
			if err != nil {
				t.Fatal(err)
			}
			r, err := decodeRecord(b[:recordHeader])
			if err != nil {
				t.Fatal(err)
			}
			var fs unix.Statfs_t
			if err := unix.Statfs(path, &fs); err != nil {
				t.Fatal(err)
			}
			if fs.Fsid.Val == [2]int32{} {
				t.Skip("the file system reports no f_fsid: st_dev is all there is")
			}
			var st unix.Stat_t
			unix.Stat(path, &st)
			if r.Dev == uint64(st.Dev) {
				t.Errorf("the record names the file by st_dev %d", r.Dev)
			}
			saved := stDev
			stDev = func(st *unix.Stat_t) uint64 { return uint64(st.Dev) + 1 }
			t.Cleanup(func() { stDev = saved })
			l, err := Mbox(path).Lock()
			if err != nil {
				t.Fatal(err)
			}
			l.Unlock()
			got, _ := os.ReadFile(path)
			if string(got) != want {
				t.Errorf("the mbox is left torn (%d bytes, want %d); records now: %v", len(got), len(want), records(dir, state))
			}
		})
	}
}
