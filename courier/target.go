package courier

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"homepost/settings"
)

// Unwritable says why a file target of ~/.forward or the user's aliases
// can never be written by the agent as things stand, or returns nil. It
// asks what delivery will do, without writing: an mbox (isMaildir
// false) must be a regular file owned by uid, not reached through a
// symbolic link (openMbox in package maildir refuses the others), that
// the user can read and write; a Maildir (isMaildir true, a symbolic
// link followed) needs tmp/ and new/ the user can write in; a file or a
// Maildir that does not exist yet needs its nearest existing directory
// to be one the user can create in, as delivery makes the directories
// missing below it. Permissions are asked of the kernel with the
// process's effective ids (faccessat with AT_EACCESS), so ACLs and a
// read-only mount count: homepost check and resolve run as the user
// whose agent delivers.
//
// Delivery defers such a copy (4.2.0), and keeps deferring it until the
// user fixes the path or the queue lifetime ends: nothing is lost, but
// the sender hears of it only days later. homepost check, resolve and
// newaliases say it ahead, with the line that names the target, as they
// say a command's missing program (MissingProgram). A directory that
// is no Maildir, named as an mbox, is not this function's (DirectoryAt).
func Unwritable(path string, isMaildir bool, uid int) error {
	path = filepath.Clean(path)
	if isMaildir {
		return unwritableMaildir(path)
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return creatable(path)
	case err != nil:
		return fmt.Errorf("%s cannot be reached (%w)", path, cause(err))
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: mail is not delivered through it", path)
	case fi.IsDir():
		return nil
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file: mail is not delivered into it", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid {
		return fmt.Errorf("%s belongs to %s, not to you: mail is not delivered into it", path, ownerName(st.Uid))
	}
	// The mbox is opened for reading and writing (its lock, the check
	// of an earlier attempt's copy).
	if err := access(path, unix.R_OK|unix.W_OK); err != nil {
		return fmt.Errorf("%s cannot be read and written by you (%w)", path, err)
	}
	return nil
}

// unwritableMaildir is Unwritable for a Maildir: as maildir.Dir.Init
// makes it (the directory and its tmp/, new/ and cur/) and Write and
// Publish fill it (a file made in tmp/, renamed into new/).
func unwritableMaildir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return creatable(dir)
	case err != nil:
		return fmt.Errorf("%s cannot be reached (%w)", dir, cause(err))
	case fi.Mode().IsRegular():
		return fmt.Errorf("%s is a file, not a Maildir: to deliver into it as an mbox, name it without the '/'", dir)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		p := filepath.Join(dir, sub)
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := access(dir, unix.W_OK|unix.X_OK); err != nil {
				return fmt.Errorf("%s cannot be made a Maildir: you cannot create %s/ in it (%w)", dir, sub, err)
			}
		case err != nil:
			return fmt.Errorf("%s cannot be reached (%w)", p, cause(err))
		case !fi.IsDir():
			return fmt.Errorf("%s is not a directory, so %s is no Maildir", p, dir)
		case sub != "cur":
			if err := access(p, unix.W_OK|unix.X_OK); err != nil {
				return fmt.Errorf("%s cannot be written: you cannot create files in %s (%w)", dir, p, err)
			}
		}
	}
	return nil
}

// creatable says why path, which does not exist, cannot be created as
// delivery creates it: the directories missing above it first (mode
// 0700), so the nearest existing one must let the user create in it.
func creatable(path string) error {
	if link, target := settings.DanglingLink(path); link != "" {
		return fmt.Errorf("%s cannot be created: %s is a symbolic link to %s, which does not exist", path, link, target)
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		switch {
		case err == nil && !fi.IsDir():
			return fmt.Errorf("%s cannot be created: %s is not a directory", path, dir)
		case err == nil:
			if err := access(dir, unix.W_OK|unix.X_OK); err != nil {
				return fmt.Errorf("%s cannot be created: you cannot create files in %s (%w)", path, dir, err)
			}
			return nil
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			return fmt.Errorf("%s cannot be created: %s cannot be reached (%w)", path, dir, cause(err))
		}
		if filepath.Dir(dir) == dir {
			return nil
		}
	}
}

// access is faccessat(2) with the effective ids; the error is the
// errno's text ("permission denied", "read-only file system").
func access(path string, mode uint32) error {
	for {
		err := unix.Faccessat(unix.AT_FDCWD, path, mode, unix.AT_EACCESS)
		if err != unix.EINTR {
			return err
		}
	}
}

// cause is err without the operation and path of an *os.PathError,
// which the message names already: "permission denied".
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ownerName is "user bob (uid 1002)", or "uid 1002" for a uid without
// a login.
func ownerName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return "user " + u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}
