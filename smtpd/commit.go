package smtpd

import (
	"os"

	"homepost/safeio"
)

// groupSync makes the listener's queue files durable through the
// process's safeio.Group (group commit: see there). A session's queue
// file is sealed (package outbox, seal.go): renamed into new/ as soon as
// it is written, then made durable with its name in one step,
// SyncSealed, before the 250; over one connection that is one sync (an
// fsync of the file on ext4, else one syncfs), one flush of the disk
// where sendmail's order takes two. (SyncFile and
// SyncDir, the two steps of an unsealed file, go the same way.) The
// agent's deliveries sync through the same group, so that a delivery
// that asks while a session syncs rides on its next round.
type groupSync struct{ g *safeio.Group }

func newGroupSync() groupSync { return groupSync{&safeio.Shared} }

// SyncFile returns after f's data is durable, by a sync that began after
// the call.
func (s groupSync) SyncFile(f *os.File) error { return s.g.Sync([]*os.File{f}, nil) }

// SyncDir returns after an fsync (or syncfs) of dir that began after the
// call.
func (s groupSync) SyncDir(dir string) error { return s.g.Sync(nil, []string{dir}) }

// SyncSealed returns after f's data and dir are durable, by syncs that
// began after the call (outbox.Sealer). A round that holds only this
// file is one fsync of it where that makes its new name durable too
// (ext4: safeio.SyncRenamed).
func (s groupSync) SyncSealed(f *os.File, dir string) error {
	return s.g.SyncRenamed(f, dir)
}
