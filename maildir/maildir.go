// Package maildir delivers messages durably into Maildirs and mbox files.
//
// Maildir delivery follows the qmail spec with the durability it leaves
// implicit: the copy is written in tmp/ with O_EXCL, fsynced, renamed into
// new/, and new/ is fsynced. The last step is separate (Sync) so that a
// batch of deliveries shares one directory fsync (group commit).
//
// Copy names are chosen by the caller and derived from the queue file and
// recipient, so that a retry after a crash can see (Has) that a copy was
// already stored and does not store it twice.
//
// Reading, walking and flagging use github.com/emersion/go-maildir.
package maildir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"homepost/safeio"
)

// Dir is a Maildir.
type Dir string

// Init creates the Maildir's tmp/, new/ and cur/ (mode 0700) if missing.
func (d Dir) Init() error {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := safeio.MkdirAll(filepath.Join(string(d), sub), 0o700); err != nil {
			return fmt.Errorf("maildir: %w", err)
		}
	}
	return nil
}

// Has reports whether a copy named name is in new/ or, with any flags, in
// cur/. It reads cur/, so it is meant for retries after a crash, not for
// every delivery.
func (d Dir) Has(name string) (bool, error) {
	if _, err := os.Lstat(filepath.Join(string(d), "new", name)); err == nil {
		return true, nil
	}
	f, err := os.Open(filepath.Join(string(d), "cur"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(4096)
		for _, n := range names {
			if n == name || strings.HasPrefix(n, name+":") {
				return true, nil
			}
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// Deliver stores one copy: header bytes then body, in tmp/NAME, fsynced,
// then renamed to new/NAME. The copy is durable only after Sync. On error
// nothing is left in new/.
func (d Dir) Deliver(name string, header []byte, body io.Reader) error {
	tmp := filepath.Join(string(d), "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		if err = d.Init(); err == nil {
			f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	if errors.Is(err, os.ErrExist) {
		// Left by a crash in the middle of this very delivery.
		os.Remove(tmp)
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(header); err != nil {
		return fmt.Errorf("maildir: write %s: %w", tmp, err)
	}
	if _, err := io.Copy(f, body); err != nil {
		return fmt.Errorf("maildir: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("maildir: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("maildir: close %s: %w", tmp, err)
	}
	err = os.Rename(tmp, filepath.Join(string(d), "new", name))
	if errors.Is(err, os.ErrNotExist) {
		// new/ is missing (a Maildir half made by another tool):
		// complete it, as a missing Maildir is created.
		if err = d.Init(); err == nil {
			err = os.Rename(tmp, filepath.Join(string(d), "new", name))
		}
	}
	if err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	ok = true
	return nil
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
