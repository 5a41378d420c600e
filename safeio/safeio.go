// Package safeio holds the few file operations that make homepost durable:
// a write is complete only after the file is fsynced, renamed into place and
// its directory is fsynced, so that a crash (kill -9, power loss) at any
// instant leaves either the old state or the new one, never a torn file.
//
// It is a leaf that links only the standard library and x/sys/unix
// (which the outbox needs anyway), so that every package that writes
// mail (outbox, which sendmail links, maildir, the agent, the SMTP
// listener) takes the same steps from one place, and the small sendmail
// program pays nothing for them: its files are opened without the
// runtime's poller (OpenFile), and the Maildir set-up that the outbox
// and the stores share (Maildir) needs no go-maildir. SyncBatch makes
// many files durable at once (batch.go); Group shares those syncs among
// a process's goroutines (group commit, group.go).
package safeio

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// SyncDir fsyncs a directory so that the names created, renamed or removed
// in it survive a crash.
func SyncDir(dir string) error {
	d, err := OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// OpenFile is os.OpenFile for a regular file or a directory, without the
// runtime's poller. os.OpenFile offers every descriptor to epoll, which
// refuses regular files and directories, and pays for the offer with
// four fcntl calls and a failing epoll_ctl (and, the first time, the
// poller's own setup); sendmail opens several such files per message.
// The errors are os.OpenFile's.
func OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	for {
		fd, err := syscall.Open(name, flag|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}

// Maildir creates dir's tmp/, new/ and cur/ (and dir) with mode 0700, each
// new entry fsynced into its parent: the one Maildir set-up, which
// maildir.Dir.Init and outbox.Dir.Init (the outbox is a Maildir of queue
// files) both call.
func Maildir(dir string) error {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile atomically replaces path with data: a temporary file in the
// same directory is written, fsynced and renamed over path, then the
// directory is fsynced. On error the temporary file is removed and path
// is untouched.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return SyncDir(dir)
}

// MkdirAll creates dir and its missing parents with mode perm, and fsyncs
// each parent whose entry it created, so the new directories survive a
// crash.
func MkdirAll(dir string, perm os.FileMode) error {
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s: not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil && !os.IsExist(err) {
		return err
	}
	return SyncDir(parent)
}

// Rename is os.Rename without the Lstat of newpath that os.Rename makes
// first (to refuse a directory there): one system call instead of two,
// on paths where a message passes several times (queue file, claim,
// Maildir copy). A directory at newpath is refused by rename(2) itself
// when oldpath is a file. Errors are *os.LinkError, as os.Rename's.
func Rename(oldpath, newpath string) error {
	for {
		err := syscall.Rename(oldpath, newpath)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
		}
		return nil
	}
}

// copyBufs are the buffers of Copy.
var copyBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// Copy is io.Copy with a buffer kept from one call to the next: io.Copy
// allocates 32 KB for every call whose source and destination offer no
// shortcut (a queue file's section into a Maildir copy, into a hash),
// which in a stream of mail was most of what the agent allocated.
func Copy(dst io.Writer, src io.Reader) (int64, error) {
	buf := copyBufs.Get().(*[32 << 10]byte)
	defer copyBufs.Put(buf)
	// Hidden from io.CopyBuffer: an *os.File's ReadFrom falls back to
	// io.Copy, with a buffer of its own, for any source but a file.
	return io.CopyBuffer(struct{ io.Writer }{dst}, src, buf[:])
}

// ReadRegular reads the file at path, which must be a regular file of at
// most limit bytes. It opens the file with O_NONBLOCK and judges the
// descriptor, not the name: a FIFO or a device put where a file the
// user names is expected (config.toml, a CA file) must not block the
// agent or act on being opened for reading, and a plain open of a FIFO
// waits for a writer for ever.
func ReadRegular(path string, limit int64) ([]byte, error) {
	f, err := OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, TypeName(fi.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}
