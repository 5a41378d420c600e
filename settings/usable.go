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
// directory is not writable: a typo in the path, /proc). Such a value
// is a configuration error like an unsafe place, so that the shims
// queue in the default outbox and say so, rather than refuse the mail
// when they try to write it (DESIGN.md: a config error never makes a
// shim refuse mail). key names the setting, why what is wrong; why is
// "" when the queue can be used. A place that cannot be examined is
// left to UnsafeQueue, which says so.
func (c *Config) UnusableQueue() (key, why string) {
	for _, p := range []struct{ key, path string }{
		{"state_dir", c.StateDir},
		{"outbox", c.Outbox},
		{"outbox", filepath.Join(c.Outbox, "tmp")},
	} {
		if !filepath.IsAbs(p.path) {
			continue
		}
		if why := unusableDir(filepath.Clean(p.path)); why != "" {
			return p.key, why
		}
	}
	return "", ""
}

// unusableDir judges one directory that homepost writes in, or creates
// with the missing directories above it.
func unusableDir(p string) string {
	for q := p; ; {
		var st syscall.Stat_t
		err := syscall.Stat(q, &st)
		for err == syscall.EINTR {
			err = syscall.Stat(q, &st)
		}
		switch {
		case err == nil && st.Mode&syscall.S_IFMT != syscall.S_IFDIR:
			if q == p {
				return fmt.Sprintf("%s is %s, not a directory", q, dirKind(st.Mode))
			}
			return fmt.Sprintf("%s, on the way to %s, is %s, not a directory", q, p, dirKind(st.Mode))
		case err == nil:
			if e := access(q, 0o3); e != nil { // W_OK|X_OK
				if q == p {
					return fmt.Sprintf("%s is not writable by you (%v)", q, e)
				}
				return fmt.Sprintf("%s cannot be made: %s is not writable by you (%v)", p, q, e)
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
