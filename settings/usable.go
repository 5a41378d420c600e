package settings

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
)

// UnusableQueue says whether the state directory or the outbox cannot
// be used as the user's: a path that is a file (outbox = "~/mail", the
// user's mbox), lies under one, or cannot be made (its nearest existing
// directory is not writable: a typo in the path; or it is on /proc,
// /sys or another of the kernel's file systems, even for root). Such a value
// is a configuration error like an unsafe place, so that the shims
// queue in the default outbox and say so, rather than refuse the mail
// when they try to write it (DESIGN.md: a config error never makes a
// shim refuse mail). key names the setting, why what is wrong; why is
// "" when the queue can be used. A place that cannot be examined is
// left to UnsafeQueue, which says so.
func (c *Config) UnusableQueue() (key, why string) {
	return c.unusableQueue(newPathChecker(c.UID, c.User))
}

func (c *Config) unusableQueue(pc *pathChecker) (key, why string) {
	for _, p := range []struct{ key, path string }{
		{"state_dir", c.StateDir},
		{"outbox", c.Outbox},
		{"outbox", filepath.Join(c.Outbox, "tmp")},
	} {
		if !filepath.IsAbs(p.path) {
			continue
		}
		if why := pc.unusableDir(filepath.Clean(p.path)); why != "" {
			return p.key, why
		}
	}
	return "", ""
}

// unusableDir judges one directory that homepost writes in, or creates
// with the missing directories above it.
func (pc *pathChecker) unusableDir(p string) string {
	for q := p; ; {
		var st syscall.Stat_t
		err := pc.stat(q, &st)
		switch {
		case err == nil && st.Mode&syscall.S_IFMT != syscall.S_IFDIR:
			if q == p {
				return fmt.Sprintf("%s is %s, not a directory", q, dirKind(st.Mode))
			}
			return fmt.Sprintf("%s, on the way to %s, is %s, not a directory", q, p, dirKind(st.Mode))
		case err == nil:
			if e := pc.writable(q); e != nil {
				if q == p {
					return fmt.Sprintf("%s is not writable by you (%v)", q, e)
				}
				return fmt.Sprintf("%s cannot be made: %s is not writable by you (%v)", p, q, e)
			}
			if fs := pc.unwritableFS(q, uint64(st.Dev)); fs != "" {
				if q == p {
					return fmt.Sprintf("%s is on %s", q, fs)
				}
				return fmt.Sprintf("%s cannot be made: %s is on %s", p, q, fs)
			}
			return ""
		case errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR):
			// Not there (or under a file, found further up).
		default:
			return "" // not to be examined: UnsafeQueue says so
		}
		up := filepath.Dir(q)
		if up == q {
			return ""
		}
		q = up
	}
}

// pseudoFS names a pseudo file system by its statfs(2) magic number
// (linux/magic.h), or returns "": the kernel's own files, where no
// directory of mail can be made. A switch, not a map: a package-level
// map is built by an initialiser at every start of every program that
// links the package, sendmail's included, asked or not.
func pseudoFS(magic uint32) string {
	switch magic {
	case 0x9fa0:
		return "proc"
	case 0x62656572:
		return "sysfs"
	case 0x27e0eb:
		return "cgroup"
	case 0x63677270:
		return "cgroup2"
	case 0x64626720:
		return "debugfs"
	case 0x74726163:
		return "tracefs"
	case 0x73636673:
		return "securityfs"
	case 0x6165676c:
		return "pstore"
	case 0xcafe4a11:
		return "bpf"
	case 0x62656570:
		return "configfs"
	case 0xde5e81e4:
		return "efivarfs"
	case 0xf97cff8c:
		return "selinuxfs"
	case 0x42494e4d:
		return "binfmt_misc"
	case 0x65735543:
		return "fusectl"
	case 0x1cd1:
		return "devpts"
	case 0x19800202:
		return "mqueue"
	case 0x6e736673:
		return "nsfs"
	}
	return ""
}

// unwritableFS names the file system that directory p is on when
// homepost cannot make its files there although access(2) said yes, or
// returns "". It asks only for root: access(2) grants root every
// directory (CAP_DAC_OVERRIDE), /proc and /sys included, where mkdir
// then fails; for other users the modes of those places already refuse
// them (and access(2) reports a read-only mount as EROFS to everyone),
// so sendmail spends no statfs(2) on them. It is asked once per file
// system (dev, the device of p): the state directory and the outbox
// are mostly on one. (A read-only bind mount shares its device with a
// writable one, but never gets here: access(2) refused it.)
func (pc *pathChecker) unwritableFS(p string, dev uint64) string {
	if syscall.Geteuid() != 0 {
		return ""
	}
	if why, ok := pc.fsys.get(dev); ok {
		return why
	}
	why := unwritableFS(p, &pc.calls)
	pc.fsys.put(dev, why)
	return why
}

func unwritableFS(p string, calls *int) string {
	var fs syscall.Statfs_t
	*calls++
	err := syscall.Statfs(p, &fs)
	for err == syscall.EINTR {
		err = syscall.Statfs(p, &fs)
	}
	if err != nil {
		return "" // the write will say what is wrong
	}
	if name := pseudoFS(uint32(fs.Type)); name != "" {
		return "the " + name + " file system (the kernel's own files, where no mail can be kept)"
	}
	if fs.Flags&stRdonly != 0 {
		return "a read-only file system"
	}
	return ""
}

// stRdonly is ST_RDONLY, statfs(2)'s flag of a read-only mount.
const stRdonly = 0x1

// writable is access(2) of directory p for W_OK|X_OK, asked once per
// checker (the state directory, the outbox and its tmp/ not yet made
// have the same nearest directory).
func (pc *pathChecker) writable(p string) error {
	if err, ok := pc.access.get(p); ok {
		return err
	}
	pc.calls++
	err := access(p, 0o3)
	pc.access.put(p, err)
	return err
}

func access(p string, mode uint32) error {
	err := syscall.Access(p, mode)
	for err == syscall.EINTR {
		err = syscall.Access(p, mode)
	}
	return err
}

// dirKind names what a path that should be a directory is instead.
func dirKind(mode uint32) string {
	if mode&syscall.S_IFMT == syscall.S_IFREG {
		return "a regular file"
	}
	return fileKind(mode)
}
