package doctor

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"homepost/config"
)

// lowSpace is the free space below which check warns of the outbox's or
// the store's file system: less than a few ordinary messages' worth
// with their copies, where sendmail begins to refuse mail (exit 75), the
// listener to answer 452, deliveries to wait, and the queue's journal
// to go unwritten.
const lowSpace = 10 << 20

// checkSpace warns when the file system holding the outbox or the store
// has less than lowSpace free for the user (or its inodes are spent):
// `ok queue` beside a log of "no space left on device" said nothing of
// why mail waited.
func checkSpace(c *checker, cfg *config.Config) {
	_, store := cfg.StoreKind()
	seen := map[uint64]bool{}
	for _, d := range []struct{ what, path string }{
		{"outbox", cfg.Outbox},
		{"store", store},
	} {
		p := nearestExisting(d.path)
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err != nil {
			continue
		}
		var fi unix.Stat_t
		if unix.Stat(p, &fi) == nil {
			if seen[fi.Dev] {
				continue
			}
			seen[fi.Dev] = true
		}
		free := st.Bavail * uint64(st.Bsize)
		switch {
		case st.Files > 0 && st.Ffree == 0:
			c.warn("space", "the file system of the %s (%s) has no free inodes: no file can be made there, so mail is refused or waits; free some", d.what, d.path)
		case free < lowSpace:
			c.warn("space", "the file system of the %s (%s) has %s free: mail is refused (sendmail exits 75, the listener answers 452) or waits when it is full; free some space", d.what, d.path, size(free))
		}
	}
}

// nearestExisting is p, or the nearest directory above it that exists
// (an outbox or store not made yet).
func nearestExisting(p string) string {
	for {
		if _, err := os.Stat(p); err == nil || filepath.Dir(p) == p {
			return p
		}
		p = filepath.Dir(p)
	}
}

// size words a byte count for a person.
func size(n uint64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
