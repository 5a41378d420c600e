// Package maildir owns the on-disk mailbox formats: Maildir and mbox.
// Delivery (package courier), the reader (mail) and anything else that stores
// or reads a mailbox go through it, so that each format has one owner.
//
// # Maildir
//
// Delivery follows the qmail spec with the durability it leaves
// implicit: the copy is written in tmp/ with O_EXCL, fsynced, renamed
// into new/, and new/ is fsynced. The last step is separate (Sync) so
// that a batch of deliveries shares one directory fsync (group commit).
// go-maildir's Delivery is not used for this: its Close fsyncs neither
// the file nor new/, so a copy it reports delivered can vanish in a
// power loss, and it picks its own names where ours come from the queue.
//
// Copy names are chosen by the caller and derived from the queue file and
// recipient, so that a retry after a crash can see (Has) that a copy was
// already stored and does not store it twice. A Maildir is made whole
// (tmp/, new/ and cur/, each fsynced into its parent) by Init, which a
// delivery calls before the first copy of a batch: one that a crash left
// without cur/ is completed before anything goes into it.
//
// Reading: List reads new/ and cur/ and ReadHeads reads the header of
// every message in parallel, so that a reader lists 100,000 messages in
// well under a second. github.com/emersion/go-maildir is used where its
// cost per call does not multiply by the size of the mailbox: finding a
// message another program renamed by its key (Has, Find), and its Flag
// vocabulary. Its Walk is not used for listing (see List for the
// measurement), and its Message.SetFlags needs a Message that only Walk
// or a lookup gives, so SetInfo renames directly.
//
// # mbox
//
// An mbox is an mboxrd file. Append adds a message under the locks that
// mutt, s-nail and mailx take (dotlock, fcntl, flock) and fsyncs it; a
// delivery appends by record (AppendMarked, Resolve: see mark.go), so
// that a retry after a crash knows whether its copy is there, and only
// to a regular file of the user's own (LockForDelivery); a new mbox's
// directory is fsynced before the first append;
// ScanMbox and Open find the messages in one sequential pass and
// remember them by offset; Rewrite replaces the file atomically under
// the same locks, keeping what was appended meanwhile.
package maildir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	gomaildir "github.com/emersion/go-maildir"

	"homepost/safeio"
	"homepost/settings"
)

// Dir is a Maildir.
type Dir string

// Init creates the Maildir's tmp/, new/ and cur/ (mode 0700) if missing.
// A Maildir behind a symbolic link to nothing (a disk not mounted, a
// directory moved) is not made, and the error says so: mkdir's own
// "no such file or directory" would name tmp/, not the link.
func (d Dir) Init() error {
	if err := safeio.Maildir(string(d)); err != nil {
		if link, target := settings.DanglingLink(string(d)); link != "" {
			return fmt.Errorf("maildir: %s is a symbolic link to %s, which does not exist: %w", link, target, err)
		}
		return fmt.Errorf("maildir: %w", err)
	}
	return nil
}

// Has reports whether a copy named name is in new/ or, with any flags, in
// cur/. It is meant for retries after a crash, not for every delivery:
// a copy that a reader moved to cur/ is looked up with go-maildir's
// MessageByKey, which tries the usual flag sets and then reads cur/.
func (d Dir) Has(name string) (bool, error) {
	for _, p := range []string{filepath.Join(string(d), "new", name), filepath.Join(string(d), "cur", name)} {
		if _, err := os.Lstat(p); err == nil {
			return true, nil
		}
	}
	_, err := gomaildir.Dir(d).MessageByKey(name)
	var ke *gomaildir.KeyError
	var fe *gomaildir.FlagError
	var me *gomaildir.MailfileError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ke), errors.Is(err, os.ErrNotExist):
		return false, nil
	case errors.As(err, &fe), errors.As(err, &me):
		// A file of that key whose info part go-maildir does not
		// know: the copy is there.
		return true, nil
	}
	return false, err
}

// Deliver stores one copy: header bytes then body, in tmp/NAME, fsynced,
// then renamed to new/NAME. The copy is durable only after Sync. On error
// nothing is left in new/.
func (d Dir) Deliver(name string, header []byte, body io.Reader) error {
	p, err := d.Write(name, header, body)
	if err != nil {
		return err
	}
	if err := p.f.Sync(); err != nil {
		p.Discard()
		return fmt.Errorf("maildir: sync %s: %w", p.tmp, err)
	}
	return p.Publish()
}

// Pending is a copy written into tmp/, not yet in new/: a batch writes
// all its copies, makes them durable together (safeio.SyncBatch), then
// publishes them.
type Pending struct {
	d    Dir
	name string
	tmp  string
	f    *os.File
}

// Write writes one copy, header bytes then body, into tmp/NAME and
// leaves it there, open and not yet fsynced. The caller makes File
// durable, then calls Publish; or calls Discard.
func (d Dir) Write(name string, header []byte, body io.Reader) (*Pending, error) {
	tmp := filepath.Join(string(d), "tmp", name)
	f, err := safeio.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		if err = d.Init(); err == nil {
			f, err = safeio.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	if errors.Is(err, os.ErrExist) {
		// Left by a crash in the middle of this very delivery.
		os.Remove(tmp)
		f, err = safeio.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	p := &Pending{d: d, name: name, tmp: tmp, f: f}
	if _, err := f.Write(header); err != nil {
		p.Discard()
		return nil, fmt.Errorf("maildir: write %s: %w", tmp, err)
	}
	if _, err := safeio.Copy(f, body); err != nil {
		p.Discard()
		return nil, fmt.Errorf("maildir: write %s: %w", tmp, err)
	}
	return p, nil
}

// File is the open file of the copy, to be made durable before Publish.
func (p *Pending) File() *os.File { return p.f }

// Publish closes the copy, which must be durable by now, and renames it
// into new/. The name is durable only after Sync. On error the copy is
// removed.
func (p *Pending) Publish() error {
	err := p.f.Close()
	p.f = nil
	if err != nil {
		os.Remove(p.tmp)
		return fmt.Errorf("maildir: close %s: %w", p.tmp, err)
	}
	dst := filepath.Join(string(p.d), "new", p.name)
	err = safeio.Rename(p.tmp, dst)
	if errors.Is(err, os.ErrNotExist) {
		// new/ is missing (a Maildir half made by another tool):
		// complete it, as a missing Maildir is created.
		if err = p.d.Init(); err == nil {
			err = safeio.Rename(p.tmp, dst)
		}
	}
	if err != nil {
		os.Remove(p.tmp)
		return fmt.Errorf("maildir: %w", err)
	}
	return nil
}

// Discard removes a copy that is not to be published.
func (p *Pending) Discard() {
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
	os.Remove(p.tmp)
}

// Sync makes the copies renamed into new/ durable.
func (d Dir) Sync() error { return safeio.SyncDir(filepath.Join(string(d), "new")) }

// IsTemporary reports whether a delivery error may pass by itself (disk
// full, quota, I/O error) rather than needing the user to act.
func IsTemporary(err error) bool {
	for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EAGAIN, syscall.EINTR, syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.ETIMEDOUT} {
		if errors.Is(err, e) {
			return true
		}
	}
	var le *LockError
	return errors.As(err, &le)
}
