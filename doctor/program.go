package doctor

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// A daemon started by hand (homepost agent &, a desktop's autostart)
// keeps running the program it started from after an upgrade replaced
// that file: make install restarts only the systemd unit and the
// background delivery. Linux keeps the running program's file open and
// names it in /proc/PID/exe; a file that was replaced (renamed over, or
// removed) is named there with " (deleted)" after its path.

// agentProgram says what the running agent at pid runs, when it is not
// the homepost this check is: replaced is the path of the program it
// started from when that file has been replaced since; other is the
// path of another homepost than this one (another build, another
// install). Both are "" when the agent runs this very file, or when
// /proc cannot tell.
func agentProgram(pid int) (replaced, other string) {
	exe := "/proc/" + strconv.Itoa(pid) + "/exe"
	link, err := os.Readlink(exe)
	if err != nil {
		return "", ""
	}
	if p, ok := strings.CutSuffix(link, " (deleted)"); ok {
		return p, ""
	}
	running, err := os.Stat(exe)
	if err != nil {
		return "", ""
	}
	// The path names another file now than the one that runs.
	if now, err := os.Stat(link); err != nil || !os.SameFile(running, now) {
		return link, ""
	}
	if self, err := os.Stat("/proc/self/exe"); err == nil && !os.SameFile(running, self) {
		return "", link
	}
	return "", ""
}

// restartAdvice is how to restart the agent at pid on this machine: the
// unit's restart when systemd started it (its control group is
// homepost.service's), otherwise an end that it takes cleanly (SIGTERM)
// and a new start, or, for a background delivery, the next message or
// homepost flush that starts the new program.
func restartAdvice(pid int) string {
	proc := "/proc/" + strconv.Itoa(pid)
	if cg, err := os.ReadFile(proc + "/cgroup"); err == nil && bytes.Contains(cg, []byte("/homepost.service")) {
		return "systemctl --user restart homepost"
	}
	if cmd, err := os.ReadFile(proc + "/cmdline"); err == nil && bytes.Contains(cmd, []byte("\x00--background")) {
		return fmt.Sprintf("kill %d (a background delivery ends cleanly on SIGTERM), then homepost flush, or the next message, starts the new one", pid)
	}
	return fmt.Sprintf("kill %d (the agent ends cleanly on SIGTERM), then start it again as you did (homepost agent), or with systemctl --user enable --now homepost where a systemd user instance runs", pid)
}
