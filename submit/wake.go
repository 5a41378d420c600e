package submit

import (
	"os"
	"os/exec"
	"strings"
	"syscall"

	"homepost/agent"
	"homepost/config"
)

// Wake starts a detached one-shot delivery (homepost agent --background)
// when no agent runs, as a user logged out without lingering or root's
// cron would otherwise leave mail waiting for a login; deferred mail is
// then retried until the queue is empty. Submit calls it after every
// message; a front end that queues several messages in one session
// (Options.NoWake) or releases held ones calls it once itself.
//
// The messages are already durable: a failure here only delays them, so
// it is not reported. It does nothing when deliver_without_agent is off,
// when an agent holds the lock, or in a test binary (which is not
// homepost).
func Wake(cfg *config.Config) {
	if !cfg.DeliverWithoutAgent {
		return
	}
	if _, running := agent.Running(cfg); running {
		return
	}
	exe, err := os.Executable()
	if err != nil || strings.HasSuffix(exe, ".test") {
		return // no binary to start (a test binary is not homepost)
	}
	// The one-shot agents' log is kept to two generations of 1 MB.
	if st, err := os.Stat(cfg.LogPath()); err == nil && st.Size() > 1<<20 {
		os.Rename(cfg.LogPath(), cfg.LogPath()+".1")
	}
	log, err := os.OpenFile(cfg.LogPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer log.Close()
	cmd := exec.Command(exe, "agent", "--background")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if cmd.Start() == nil {
		cmd.Process.Release()
	}
}
