package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"homepost/config"
)

// Advice that cannot work is worse than none: "systemctl --user" means
// nothing where no user instance of systemd runs (a server the user
// logs out of without lingering, a container, root's cron), and there
// mail that waits for the agent waits for the next login. What works
// everywhere is cron: a "@reboot homepost flush" line starts delivery
// after a reboot, and every homepost command that finds mail waiting
// starts the background delivery itself. A listener named in [smtp]
// is different: only a running agent listens (a background delivery
// never does), so the line starts "homepost agent" instead, which
// delivers as well, and takes over from a background delivery that a
// sendmail run before it started.

// UserSystemd reports whether "systemctl --user" can reach a systemd
// user instance for cfg's user now.
func UserSystemd(cfg *config.Config) bool { return booted() && userBus(cfg.UID) != "" }

// AgentAdvice says how to keep mail moving when no agent runs, in
// words that work on this machine.
func AgentAdvice(cfg *config.Config) string {
	if UserSystemd(cfg) {
		return "start the agent with 'systemctl --user enable --now homepost'"
	}
	if !cfg.DeliverWithoutAgent {
		return "deliver_without_agent = false, so only a running agent delivers, and no systemd user instance runs here: start homepost agent, and for it to run after a reboot too, add '@reboot homepost agent' to your crontab (homepost check --crontab prints the line)"
	}
	if ListenerNamed(cfg) {
		return "no systemd user instance runs here: for mail to move, and [smtp]'s listener to listen, after a reboot, add '@reboot homepost agent' to your crontab (homepost check --crontab prints the line)"
	}
	return "no systemd user instance runs here: for mail to move after a reboot, add '@reboot homepost flush' to your crontab (homepost check --crontab prints the line)"
}

// ListenerNamed reports whether cfg's [smtp] names a listener that
// programs are set to: TCP addresses, or a socket path of the user's
// own. The default socket alone, which the agent opens whatever the
// file says, is no sign that anything uses it.
func ListenerNamed(cfg *config.Config) bool {
	if !cfg.SMTP.Enabled {
		return false
	}
	if len(cfg.SMTP.Listen) > 0 {
		return true
	}
	sock := filepath.Clean(cfg.SMTP.Socket)
	defaults := []string{filepath.Join(cfg.StateDir, "smtp"), filepath.Join("/run/user", strconv.Itoa(cfg.UID), "homepost", "smtp")}
	if rt, _ := config.RuntimeDir(); rt != "" {
		defaults = append(defaults, filepath.Join(rt, "homepost", "smtp"))
	}
	if rt := os.Getenv("XDG_RUNTIME_DIR"); rt != "" {
		defaults = append(defaults, filepath.Join(rt, "homepost", "smtp"))
	}
	return !slices.Contains(defaults, sock)
}

// CrontabLine is the crontab(5) line that starts delivery after a
// reboot, "homepost flush", or "homepost agent" where [smtp] names a
// listener (ListenerNamed) or deliver_without_agent = false (a flush
// then tries once, and nothing retries what it defers, nor delivers
// what is sent later): homepost by its absolute path (cron's PATH is short), with
// the environment that places the configuration and the queue when it
// is not the default, and the log where background deliveries write
// theirs (cron would mail whatever the job prints). cron lets an
// @reboot job run for as long as it likes: the agent stays, as it would
// under systemd, with the output of both in the one log.
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
	verb := "flush"
	if ListenerNamed(cfg) || !cfg.DeliverWithoutAgent {
		verb = "agent"
	}
	cmd := fmt.Sprintf("%s%s %s >>%s 2>&1", strings.Join(env, ""), shellQuote(exe), verb, shellQuote(cfg.LogPath()))
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
