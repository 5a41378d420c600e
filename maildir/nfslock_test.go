package maildir

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// On a local file system both locks are taken; a lock call that fails
// for another reason than another program's lock (ENOLCK: no lock
// manager on an NFS mount) is no reason to wait: it was retried for 30
// seconds and reported as "locked by another program".
func TestLockKinds(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "mbox"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if flockIsFcntl(f) {
		t.Error("a local file system's flock taken for fcntl's")
	}
	for _, c := range []struct {
		err  error
		busy bool
	}{{unix.EAGAIN, true}, {unix.EACCES, true}, {unix.EINTR, true}, {unix.ENOLCK, false}, {unix.EBADF, false}} {
		if got := busyLock(c.err); got != c.busy {
			t.Errorf("busyLock(%v) = %v", c.err, got)
		}
	}
}
