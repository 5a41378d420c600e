package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"homepost/config"
)

// Advice that cannot work is worse than none: "systemctl --user" means
// nothing where no user instance of systemd runs (a server the user
// logs out of without lingering, a container, root's cron), and there
// mail that waits for the agent waits for the next login. What works
// everywhere is cron: a "@reboot homepost flush" line starts delivery
// after a reboot, and every homepost command that finds mail waiting
// starts the background delivery itself.

// UserSystemd reports whether "systemctl --user" can reach a systemd
// user instance for cfg's user now.
func UserSystemd(cfg *config.Config) bool { return booted() && userBus(cfg.UID) != "" }

// AgentAdvice says how to keep mail moving when no agent runs, in
// words that work on this machine.
func AgentAdvice(cfg *config.Config) string {
	if UserSystemd(cfg) {
		return "start the agent with 'systemctl --user enable --now homepost'"
	}
	return "no systemd user instance runs here: for mail to move after a reboot, add '@reboot homepost flush' to your crontab (homepost check --crontab prints the line)"
}

// CrontabLine is the crontab(5) line that starts delivery after a
// reboot: homepost by its absolute path (cron's PATH is short), with
// the environment that places the configuration and the queue when it
// is not the default, and the log where background deliveries write
// theirs (cron would mail whatever the job prints).
func CrontabLine(cfg *config.Config) string {
	exe, err := os.Executable()
	if err != nil {
		exe = "homepost"
	} else if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	var env []string
	for _, v := range []struct{ name, def string }{
		{"HOMEPOST_CONFIG", ""},
		{"XDG_CONFIG_HOME", filepath.Join(cfg.Home, ".config")},
		{"XDG_STATE_HOME", filepath.Join(cfg.Home, ".local", "state")},
	} {
		if val := os.Getenv(v.name); val != "" && filepath.Clean(val) != v.def {
			env = append(env, v.name+"="+shellQuote(val)+" ")
		}
	}
	cmd := fmt.Sprintf("%s%s flush >>%s 2>&1", strings.Join(env, ""), shellQuote(exe), shellQuote(cfg.LogPath()))
	// cron turns an unescaped % of the command into a new line (and
	// takes the backslash off an escaped one), even within quotes.
	return "@reboot " + strings.ReplaceAll(cmd, "%", `\%`)
}

// shellQuote quotes s for sh(1) when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
