package relay

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"homepost/config"
	"homepost/safeio"
	"homepost/settings"
)

// An exec: relay whose program is homepost's own (its sendmail, as
// make install-system links /usr/sbin/sendmail, or homepost itself)
// hands every remote message back to the queue it left: the agent takes
// it in again and runs the program again, a thousand times a second,
// until the hop limit bounces it. config.example.toml's example,
// exec:/usr/sbin/sendmail -i, is such a loop where homepost is the
// system's sendmail. New refuses it, as a configuration error of
// relay.url: the agent holds remote mail and says why, and check FAILs.

// execLoops returns the error of an exec: relay whose program is a
// homepost build, or nil.
func execLoops(cfg *config.Config, prog string) error {
	real, err := filepath.EvalSymlinks(prog)
	if err != nil {
		return nil // not there: running it says why
	}
	if real != OurBinary() && !HomepostProgram(real) {
		return nil
	}
	what := prog
	if real != prog {
		what = prog + " -> " + real
	}
	return &config.Error{File: cfg.File, Key: "relay.url", Msg: fmt.Sprintf(
		"exec:%s is homepost's own program (%s): the mail it is given comes back to the queue, for ever; name a real MTA's sendmail (Postfix's, msmtp's) or the smarthost (smtps://HOST:465)",
		prog, what)}
}

// An exec: relay program runs as the user for every remote message, so
// one that another user could replace (the file writable by others or
// owned by another user, or a directory on its path, through symbolic
// links, that others may write without the sticky bit) would run their
// code as the user. New refuses it with the rule that refuses such a
// config.toml (settings.UnsafeFile, settings.UnsafeDirs): the agent
// holds remote mail and says why, and check FAILs.

// execUnsafe returns the error of an exec: relay whose program others
// could replace, or nil.
func execUnsafe(cfg *config.Config, prog string) error {
	fi, err := os.Stat(prog)
	if err != nil {
		return nil // not there: running it says why
	}
	bad := func(path, why, fix string) error {
		return &config.Error{File: cfg.File, Key: "relay.url", Msg: fmt.Sprintf(
			"exec:%s: %s is %s: another user could make homepost run a command as you, so it is not run; %s",
			prog, path, why, fix)}
	}
	real := prog
	if r, err := filepath.EvalSymlinks(prog); err == nil {
		real = r
	}
	group := false
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().Perm()&0o020 != 0 {
		group = settings.PrivateGroup(int(st.Gid), cfg.UID, cfg.User)
	}
	if why := settings.UnsafeFile(fi, cfg.UID, group); why != "" {
		var fix string
		switch {
		case strings.HasPrefix(why, "owned by"):
			fix = fmt.Sprintf("give it to yourself or root (as root: chown root %s) or name a program of your own", real)
		case strings.HasPrefix(why, "not a regular file"):
			fix = "name a program file"
		default:
			fix = fmt.Sprintf("chmod go-w %s", real)
		}
		return bad(real, why, fix)
	}
	if u := settings.UnsafeDirs(prog, cfg.UID, cfg.User); u != nil {
		return bad(u.Path, u.Why, u.Fix)
	}
	return nil
}

// OurBinary is this program with symlinks resolved, to recognise our
// links on PATH.
func OurBinary() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		return p
	}
	return exe
}

// HomepostProgram reports whether the executable at path was built from
// homepost's module, as homepost or its sendmail program. It looks for
// the module information that the Go toolchain writes into every binary
// as text ("go version -m" prints it): the main package's path, then its
// module's. (debug/buildinfo reads the same, but linking it cost every
// homepost command about 24 page faults at its start, for a check that
// only homepost check and the agent's start make.)
func HomepostProgram(path string) bool {
	// O_NONBLOCK: a FIFO on PATH must not hold homepost check up; it has
	// no effect on reading a regular file.
	f, err := safeio.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Size() > maxProgram {
		return false
	}
	marks := [][]byte{
		[]byte("path\thomepost\nmod\thomepost\t"),
		[]byte("path\thomepost/cmd/sendmail\nmod\thomepost\t"),
	}
	keep := 0
	for _, m := range marks {
		keep = max(keep, len(m)-1)
	}
	// Read in chunks, each after the tail of the one before, so that a
	// mark across two reads is found.
	buf := make([]byte, keep+256<<10)
	n := 0
	for {
		m, err := f.Read(buf[n:])
		n += m
		for _, mark := range marks {
			if bytes.Contains(buf[:n], mark) {
				return true
			}
		}
		if err != nil {
			return false
		}
		if n > keep {
			n = copy(buf, buf[n-keep:n])
		}
	}
}

// maxProgram bounds the size of a program HomepostProgram reads.
const maxProgram = 256 << 20
