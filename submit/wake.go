package submit

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"homepost/agentlock"
	"homepost/settings"
)

// Homepost returns the homepost program, which Wake starts as the
// one-shot agent. In homepost's own binary that is the running
// executable; the small sendmail program sets it to FindHomepost.
var Homepost = os.Executable

// FindHomepost finds homepost for a program installed with it: first
// beside the running executable (whose path has its symlinks resolved,
// so that /usr/sbin/sendmail linking to the installed program finds the
// homepost installed with it), else the first in $PATH. The running
// executable itself is never the answer.
func FindHomepost() (string, error) {
	exe, err := os.Executable()
	self, serr := os.Stat(exe)
	isSelf := func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && serr == nil && os.SameFile(st, self)
	}
	if err == nil {
		p := filepath.Join(filepath.Dir(exe), "homepost")
		if executable(p) && !isSelf(p) {
			return p, nil
		}
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if !filepath.IsAbs(dir) {
			continue // never run a homepost from wherever cron was started
		}
		p := filepath.Join(dir, "homepost")
		if executable(p) && !isSelf(p) {
			return p, nil
		}
	}
	return "", errors.New("cannot find the homepost program: install it beside this program or in $PATH")
}

// executable reports whether p is a regular file this user may run.
func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && syscall.Access(p, 1) == nil
}

// Wake starts a detached one-shot delivery (homepost agent --background)
// when no agent runs, as a user logged out without lingering or root's
// cron would otherwise leave mail waiting for a login; deferred mail is
// then retried until the queue is empty. Submit calls it after every
// message; a front end that queues several messages in one session
// (Options.NoWake) or releases held ones calls it once itself.
//
// The delivery may stay for days while mail is deferred, so it lets go
// of its caller as a daemon does: it works in the HOME (as the systemd
// unit does), not in the directory it was started from, which could
// then not be unmounted; and it does not inherit the files that this
// process inherited (closeInherited): a pipe that a shell's $(...) or a
// cron job's reader reads until every writer has closed it would
// otherwise stay open, and the caller wait, until the queue is empty.
//
// The messages are already durable: a failure here only delays them, so
// it is not reported, but Wake says whether it started the delivery
// (mailq and check say so). It does nothing when deliver_without_agent
// is off, when an agent holds the lock (but one that is stopping), or in
// a test binary (which is
// not homepost). Whether an agent runs costs an open and a flock; the
// process is started with os.StartProcess, so that sendmail links
// neither the agent nor os/exec.
func Wake(cfg *settings.Config) bool {
	if !cfg.DeliverWithoutAgent {
		return false
	}
	if _, word, running := agentlock.State(cfg.LockPath()); running && word != "stopping" {
		return false
	}
	// An agent that is stopping (for up to half a minute) delivers
	// nothing more: the delivery started waits for it to end, then
	// delivers what came meanwhile.
	exe, err := Homepost()
	if err != nil || strings.HasSuffix(exe, ".test") {
		return false // no binary to start (a test binary is not homepost)
	}
	// The one-shot agents' log is kept to two generations of 1 MB.
	// Its directory (the state directory) need not exist yet: an
	// outbox configured elsewhere does not make it.
	if err := os.MkdirAll(filepath.Dir(cfg.LogPath()), 0o700); err != nil {
		return false
	}
	if st, err := os.Stat(cfg.LogPath()); err == nil && st.Size() > 1<<20 {
		os.Rename(cfg.LogPath(), cfg.LogPath()+".1")
	}
	log, err := os.OpenFile(cfg.LogPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return false
	}
	defer log.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return false
	}
	defer null.Close()
	closeInherited()
	dir := cfg.Home
	if dir == "" {
		dir = "/"
	}
	p, err := os.StartProcess(exe, []string{exe, "agent", "--background"}, &os.ProcAttr{
		Dir:   dir,
		Env:   os.Environ(),
		Files: []*os.File{null, log, log},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return false
	}
	p.Release()
	return true
}

// closeInherited marks every file descriptor above stderr close-on-exec,
// so that a process started next gets none of them. Go opens its own
// files close-on-exec; what is left open are the descriptors this
// process inherited from its caller. close_range(2) does it in one call
// (Linux 5.11); before that, each open descriptor is marked.
func closeInherited() {
	if unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
}
