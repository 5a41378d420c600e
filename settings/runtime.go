package settings

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// RuntimeDir is the user's runtime directory, $XDG_RUNTIME_DIR, where
// the SMTP socket is by default; "" where there is none, with why (""
// when the variable is unset). It is the one place that decides, for
// the agent that opens the socket and for every program that looks for
// it (check, the clients), so that they agree.
//
// The variable alone is not enough: after a reboot, in a su or sudo -i
// session, or under cron with a copied environment it names a
// directory that does not exist (and that only logind may create), or
// another user's. The XDG specification asks for a directory of the
// user's, mode 0700; anything else is no runtime directory, and the
// socket is in the state directory instead.
//
// Unset, the variable is no reason to differ from the login session: an
// agent started by cron's @reboot line or from su has none, while the
// session's programs have the /run/user/UID that systemd-logind (or
// elogind) made for the user, and the two would look for the socket in
// different places. That directory is taken when it exists, is the
// user's and is open to no one else, as logind makes it; otherwise there
// is none (why "").
func RuntimeDir() (dir, why string) {
	rt := os.Getenv("XDG_RUNTIME_DIR")
	if rt == "" {
		return loginRuntimeDir(), ""
	}
	if !filepath.IsAbs(rt) {
		return "", fmt.Sprintf("XDG_RUNTIME_DIR=%s is not an absolute path", rt)
	}
	var st syscall.Stat_t
	err := syscall.Stat(rt, &st)
	for err == syscall.EINTR {
		err = syscall.Stat(rt, &st)
	}
	switch {
	case err == syscall.ENOENT || err == syscall.ENOTDIR:
		return "", fmt.Sprintf("XDG_RUNTIME_DIR=%s does not exist", rt)
	case err != nil:
		return "", fmt.Sprintf("XDG_RUNTIME_DIR=%s: %v", rt, err)
	case st.Mode&syscall.S_IFMT != syscall.S_IFDIR:
		return "", fmt.Sprintf("XDG_RUNTIME_DIR=%s is not a directory", rt)
	case int(st.Uid) != os.Getuid():
		return "", fmt.Sprintf("XDG_RUNTIME_DIR=%s belongs to uid %d, not to this user", rt, st.Uid)
	case st.Mode&0o077 != 0:
		return "", fmt.Sprintf("XDG_RUNTIME_DIR=%s is mode %04o, open to others (a runtime directory is mode 0700)", rt, st.Mode&0o7777)
	}
	return rt, ""
}

// runUser is where logind makes each user's runtime directory, named by
// uid; a variable for tests.
var runUser = "/run/user"

// loginRuntimeDir is /run/user/UID when it is a directory of the user's
// open to no one else, else "".
func loginRuntimeDir() string {
	rt := filepath.Join(runUser, strconv.Itoa(os.Getuid()))
	var st syscall.Stat_t
	err := syscall.Stat(rt, &st)
	for err == syscall.EINTR {
		err = syscall.Stat(rt, &st)
	}
	if err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != os.Getuid() || st.Mode&0o077 != 0 {
		return ""
	}
	return rt
}
