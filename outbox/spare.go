package outbox

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"homepost/safeio"
)

// Spare queue files.
//
// A finished queue file is not unlinked but emptied and kept in tmp/ as
// a spare, which the next sendmail renames to its draft's name and
// fills: a steady stream of mail then allocates and frees no inode per
// message. That matters on ext4 without a journal (common on virtual
// machine images), which for minutes after an inode is freed makes every
// creation in its block group scan past it (recently_deleted in
// fs/ext4/ialloc.c): after a burst of deliveries, creating a queue file
// took half a millisecond. Elsewhere it saves an inode's allocation and
// freeing, and costs nothing.
//
// Spares are tmp/spare.0 to tmp/spare.N-1. Both sides rename with
// RENAME_NOREPLACE, so that no file is ever replaced: the agent puts a
// spare in the first free slot; sendmail takes the first one present. A
// slot another process won is just the next one tried; with no slot
// free the agent unlinks, and with no spare sendmail creates a file.
// What a crash leaves is at worst a spare still holding an old
// message's bytes, which the taker drops (or the agent's cleanup of
// tmp/ removes after 36 hours).
const spareSlots = 4

func spareName(k int) string { return "spare." + strconv.Itoa(k) }

// takeSpare renames a spare to tmp/name and opens it for writing,
// emptied. It returns nil when there is none, or when renameat2 is not
// supported here: the caller then creates the file.
func (d Dir) takeSpare(name string) *os.File {
	dst := d.Path("tmp", name)
	for k := range spareSlots {
		err := unix.Renameat2(unix.AT_FDCWD, d.Path("tmp", spareName(k)), unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.ENOENT) {
			continue // taken by another sendmail, or never there
		}
		if err != nil {
			return nil
		}
		// Only a regular file is filled: a symlink or a FIFO planted
		// as a spare is neither followed nor waited on. Nor is a spare
		// that is not empty yet: Remove empties it through its own
		// descriptor after the rename, and would empty the message
		// written into it here (the agent's SMTP listener takes spares
		// while the agent removes files). It is dropped instead, and so
		// is a full one that a crash left.
		if st, err := os.Lstat(dst); err != nil || !st.Mode().IsRegular() || st.Size() != 0 {
			os.Remove(dst)
			return nil
		}
		f, err := safeio.OpenFile(dst, os.O_WRONLY|os.O_TRUNC|unix.O_NOFOLLOW, 0)
		if err != nil {
			os.Remove(dst)
			return nil
		}
		return f
	}
	return nil
}

// Remove takes the queue file out of the queue: it becomes a spare when
// a slot is free, else it is unlinked. Either way the message is gone
// from new/ and cur/ at once; the caller syncs cur/ where the removal
// must survive a crash.
func (m *Message) Remove() error {
	tmp := filepath.Join(filepath.Dir(filepath.Dir(m.Path)), "tmp")
	for k := range spareSlots {
		err := unix.Renameat2(unix.AT_FDCWD, m.Path, unix.AT_FDCWD, filepath.Join(tmp, spareName(k)), unix.RENAME_NOREPLACE)
		if err == nil {
			// Emptied through the descriptor, after the rename: a
			// crash between the two leaves a full spare, never an
			// empty file in cur/ that would look corrupt.
			m.f.Truncate(0)
			m.f.Close()
			return nil
		}
		if !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	m.f.Close()
	return os.Remove(m.Path)
}
