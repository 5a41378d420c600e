package doctor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"homepost/capture"
	"homepost/config"
)

// What systemd knows is read from the files it keeps wherever that
// answers the question, rather than by running systemctl or loginctl:
// each of those costs a process and a D-Bus round trip (tens of
// milliseconds on a busy machine), and homepost check should answer as
// fast as the other commands. Only the unit's state needs systemctl, and
// only where a user manager runs; it is started before the other checks
// and read when its line is due.

// Where systemd keeps its state; variables so that tests can point them
// elsewhere.
var (
	// systemdDir exists when systemd is the init system (sd_booted(3)).
	systemdDir = "/run/systemd/system"
	// lingerDir holds one empty file per user with lingering on; it is
	// what logind reads (loginctl enable-linger creates the file).
	lingerDir = "/var/lib/systemd/linger"
)

// booted reports whether systemd runs this machine, as sd_booted(3).
func booted() bool {
	st, err := os.Lstat(systemdDir)
	return err == nil && st.IsDir()
}

// userBus is the socket of the user's systemd instance, or "" when none
// runs: $XDG_RUNTIME_DIR/systemd/private, which systemctl --user uses,
// or the session bus beside it.
func userBus(uid int) string {
	rt := os.Getenv("XDG_RUNTIME_DIR")
	if rt == "" || !filepath.IsAbs(rt) {
		rt = filepath.Join("/run/user", strconv.Itoa(uid))
	}
	for _, p := range []string{filepath.Join(rt, "systemd", "private"), filepath.Join(rt, "bus")} {
		if st, err := os.Stat(p); err == nil && st.Mode().Type() == os.ModeSocket {
			return p
		}
	}
	return ""
}

// result is the output of a tool started in the background.
type result struct {
	out []byte
	err error
}

// startTool runs argv in the background, bounded as every tool call of
// homepost check (capture.Output: merged output, a non-zero exit with
// output is not an error), and returns a function that waits for it.
func startTool(argv ...string) func() ([]byte, error) {
	return background(func() ([]byte, error) { return capture.Output(argv, toolTimeout, toolMaxOutput) })
}

// background runs f in a goroutine and returns a function that waits
// for its result (as often as it is called).
func background(f func() ([]byte, error)) func() ([]byte, error) {
	ch := make(chan result, 1)
	go func() {
		out, err := f()
		ch <- result{out, err}
	}()
	var r *result
	return func() ([]byte, error) {
		if r == nil {
			v := <-ch
			r = &v
		}
		return r.out, r.err
	}
}

// unitState starts asking systemd for homepost.service's state; the
// function it returns gives the verdict line's parts. Without systemd or
// without a user instance, no process is started.
func unitState(cfg *config.Config) func(c *checker) {
	switch {
	case !booted():
		return func(c *checker) {
			c.warn("unit", "systemd is not running on this machine: no user unit to check")
		}
	case userBus(cfg.UID) == "":
		return func(c *checker) {
			c.warn("unit", "no systemd user instance for %s (it starts at login, or always with loginctl enable-linger %s)", cfg.User, cfg.User)
		}
	}
	if _, err := exec.LookPath("systemctl"); err != nil {
		return func(c *checker) { c.warn("unit", "systemctl not found: no systemd unit to check") }
	}
	wait := startTool("systemctl", "--user", "is-active", "homepost.service")
	return func(c *checker) {
		out, _ := wait()
		state := firstLine(out)
		switch state {
		case "active", "activating", "reloading":
			c.ok("unit", "homepost.service is %s", state)
		case "":
			c.warn("unit", "systemctl --user is-active said nothing")
		default:
			if strings.Contains(state, "bus") || strings.Contains(state, "connect") {
				c.warn("unit", "no systemd user instance (%s)", state)
			} else {
				c.warn("unit", "homepost.service is %s (systemctl --user enable --now homepost)", state)
			}
		}
	}
}

// checkLinger reads whether the user's systemd instance (and so the
// agent) keeps running after logout from logind's own record.
func checkLinger(c *checker, cfg *config.Config) {
	if !booted() {
		return // said under "unit"
	}
	_, err := os.Stat(filepath.Join(lingerDir, cfg.User))
	switch {
	case err == nil:
		c.ok("linger", "on: the agent runs while you are logged out")
	case os.IsNotExist(err):
		c.warn("linger", "off: your systemd instance and the agent stop at logout; mail is then delivered by background deliveries that sendmail starts (loginctl enable-linger %s)", cfg.User)
	default:
		c.warn("linger", "cannot tell: %v", err)
	}
}

// agentAdvice is how to start the agent on this machine when
// background deliveries are off.
func agentAdvice(cfg *config.Config) string {
	if UserSystemd(cfg) {
		return "systemctl --user enable --now homepost"
	}
	return "run homepost agent, or set deliver_without_agent = true"
}
