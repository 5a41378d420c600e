package doctor

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"homepost/agent"
	"homepost/config"
	"homepost/smtpd"
)

// checkSMTP reports the agent's SMTP listener: whether it is on, where,
// whether each address answers a NOOP session, and where the secret is
// that clients of other users log in with.
func checkSMTP(c *checker, cfg *config.Config) {
	if !cfg.SMTP.Enabled {
		c.ok("smtp", "off ([smtp] enabled = false)")
		return
	}
	pid, running := agent.Running(cfg)
	if err := smtpd.CheckSocketDir(filepath.Dir(cfg.SMTP.Socket)); err != nil {
		c.fail("smtp", "%v", err)
	}
	for _, p := range smtpd.ProbeAll(cfg, 5*time.Second) {
		where := p.Network + ":" + p.Addr
		switch {
		case p.Network == "tcp" && p.Owner >= 0 && p.Owner != cfg.UID:
			// Whether or not it answers.
			c.fail("smtp", "another program (uid %d) holds %s: mail sent there does not reach homepost", p.Owner, p.Addr)
		case p.Network == "tcp" && p.Err == nil && p.Owner < 0:
			c.warn("smtp", "%s answers (EHLO, NOOP), but whose it is cannot be told: %v", where, p.OwnerErr)
		case p.Err == nil:
			c.ok("smtp", "%s answers (EHLO, NOOP): %s", where, strings.Join(p.Extensions, " "))
		case running && isBackground(pid):
			c.warn("smtp", "%s: not listening: the agent that runs (pid %d) is a background delivery, which never listens (%s)", where, pid, smtpAdvice())
		case running:
			c.warn("smtp", "%s does not answer although the agent runs: %v (see its log; the agent opens its sockets when it starts)", where, p.Err)
		default:
			c.warn("smtp", "%s: not listening: the agent does not run (%s)", where, smtpAdvice())
		}
	}
	if len(cfg.SMTP.Listen) == 0 {
		return
	}
	switch _, err := smtpd.ReadSecret(cfg.SMTP.SecretFile); {
	case err == nil:
		c.ok("smtp-auth", "clients of other users log in with AUTH PLAIN as %s and the secret in %s", cfg.User, cfg.SMTP.SecretFile)
	case errors.Is(err, os.ErrNotExist):
		c.ok("smtp-auth", "clients of other users log in with AUTH PLAIN as %s and the secret that the agent creates in %s when it first listens on TCP", cfg.User, cfg.SMTP.SecretFile)
	default:
		c.fail("smtp-auth", "%v: clients of other users cannot log in", err)
	}
}

// smtpAdvice is how to have the listener on this machine.
func smtpAdvice() string {
	if booted() {
		return "it listens while it runs; systemctl --user enable --now homepost-smtp.socket starts it at the first connection"
	}
	return "it listens while it runs: start homepost agent"
}

// isBackground reports whether process pid is a background delivery
// (homepost agent --background), which delivers but never listens.
func isBackground(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	return slices.Contains(args, "agent") && slices.Contains(args, "--background")
}
