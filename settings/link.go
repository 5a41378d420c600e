package settings

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// DanglingLink reports whether path cannot be found because a symbolic
// link on it (the file itself, or a directory above it) points to
// something that does not exist: a dotfiles checkout that was moved,
// or a mount that is not there. Such a file is not "no file": it
// exists, and what it says is unknown, so it must not be taken for the
// defaults. It returns the link and what it points to (a relative
// target made absolute from the link's directory), or "" when path
// is missing for another reason (or is not missing). It is meant for a
// path that open(2) reported missing, and costs an lstat(2) for each
// missing element, up to the first that exists.
func DanglingLink(path string) (link, target string) {
	p := filepath.Clean(path)
	for {
		var st syscall.Stat_t
		err := syscall.Lstat(p, &st)
		for err == syscall.EINTR {
			err = syscall.Lstat(p, &st)
		}
		switch {
		case err == nil && st.Mode&syscall.S_IFMT == syscall.S_IFLNK:
			var st2 syscall.Stat_t
			if err := syscall.Stat(p, &st2); !errors.Is(err, syscall.ENOENT) {
				return "", "" // it leads somewhere (or the trouble is another)
			}
			t, _ := os.Readlink(p)
			if t != "" && !filepath.IsAbs(t) {
				// As the kernel reads it: from the link's directory.
				t = filepath.Join(filepath.Dir(p), t)
			}
			return p, t
		case err != syscall.ENOENT:
			return "", ""
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", ""
		}
		p = parent
	}
}
