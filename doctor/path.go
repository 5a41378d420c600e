package doctor

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"homepost/relay"
)

// ourBinary is this program with symlinks resolved (relay.OurBinary).
func ourBinary() string { return relay.OurBinary() }

// whose says what path runs: "homepost", or the program it resolves to.
// homepost is this binary, or any program built from homepost's module:
// make install puts the small sendmail program (cmd/sendmail) first on
// PATH, a file of its own, and install-system links /usr/sbin/sendmail
// to it; a system-wide homepost serves this user's outbox too.
func whose(path string) (string, bool) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return path, false
	}
	if real == ourBinary() || homepostProgram(real) {
		return "homepost", true
	}
	if real != path {
		return path + " -> " + real, false
	}
	return path, false
}

// homepostProgram reports whether the executable at path was built
// from homepost's module (relay.HomepostProgram, which the agent uses
// to refuse an exec: relay that would hand the mail back to it).
func homepostProgram(path string) bool { return relay.HomepostProgram(path) }

func checkPath(c *checker) {
	for _, name := range []string{"sendmail", "mail"} {
		p, err := exec.LookPath(name)
		if err != nil {
			c.warn("PATH", "no %s on PATH (make install links it into the BINDIR; put that on PATH)", name)
			continue
		}
		if w, ours := whose(p); ours {
			c.ok("PATH", "%s is %s (homepost)", name, p)
		} else {
			c.warn("PATH", "%s first on PATH is %s, not homepost", name, w)
		}
	}
	const sys = "/usr/sbin/sendmail"
	if _, err := os.Lstat(sys); err != nil {
		c.warn("sendmail", "%s does not exist: system programs (cron, atd, sudo) cannot send mail (make install-system as root links it)", sys)
	} else if w, ours := whose(sys); ours {
		c.ok("sendmail", "%s is homepost", sys)
	} else {
		c.warn("sendmail", "%s is %s: system programs' mail goes there, not to homepost", sys, w)
	}
}

// checkCron tells whether cron's mail reaches homepost: cron hands job
// output to /usr/sbin/sendmail, unless the job is wrapped in homepost
// cron (with MAILTO="" so cron itself stays silent).
func checkCron(c *checker, crontab func() ([]byte, error)) {
	_, sysOurs := whose("/usr/sbin/sendmail")
	if crontab == nil {
		if sysOurs {
			c.ok("cron", "no crontab command; /usr/sbin/sendmail is homepost")
		} else {
			c.ok("cron", "no crontab command here")
		}
		return
	}
	out, err := crontab()
	if err != nil {
		c.ok("cron", "no crontab for you")
		return
	}
	ct := parseCrontab(string(out))
	switch {
	case ct.jobs == 0:
		c.ok("cron", "your crontab has no jobs")
	case sysOurs:
		c.ok("cron", "%d job(s); cron mails through /usr/sbin/sendmail, which is homepost", ct.jobs)
	case ct.wrapped == ct.jobs:
		c.ok("cron", "all %d job(s) run under homepost cron", ct.jobs)
	case ct.mailtoOff:
		c.warn("cron", "MAILTO=\"\" and %d of %d job(s) not under homepost cron: their output is lost", ct.jobs-ct.wrapped, ct.jobs)
	default:
		c.warn("cron", "%d of %d job(s) not under homepost cron and /usr/sbin/sendmail is not homepost: their output may not reach you (use homepost cron -- CMD)", ct.jobs-ct.wrapped, ct.jobs)
	}
}

// startCrontab starts "crontab -l" and returns a function that waits
// for its output, or nil where there is no crontab command.
func startCrontab() func() ([]byte, error) {
	if _, err := exec.LookPath("crontab"); err != nil {
		return nil
	}
	return background(func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
		defer cancel()
		// Standard output only: "no crontab for USER" is an error.
		return exec.CommandContext(ctx, "crontab", "-l").Output()
	})
}

// crontabSummary is what checkCron needs to know of a crontab.
type crontabSummary struct {
	jobs, wrapped int
	mailtoOff     bool // the last MAILTO before a job is empty
}

// parseCrontab counts the jobs of a crontab(5) file and those run through
// "homepost cron". Environment lines (NAME=value) and comments are not
// jobs.
func parseCrontab(s string) crontabSummary {
	var c crontabSummary
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && !strings.ContainsAny(strings.TrimSpace(k), " \t*/,") {
			if strings.TrimSpace(k) == "MAILTO" {
				v = strings.Trim(strings.TrimSpace(v), `"'`)
				c.mailtoOff = v == ""
			}
			continue
		}
		f := strings.Fields(line)
		var cmd []string
		switch {
		case strings.HasPrefix(f[0], "@"):
			cmd = f[1:]
		case len(f) > 5:
			cmd = f[5:]
		default:
			continue
		}
		c.jobs++
		if wrappedCommand(cmd) {
			c.wrapped++
		}
	}
	return c
}

// wrappedCommand reports whether a cron command line runs homepost cron.
func wrappedCommand(cmd []string) bool {
	for i := 0; i+1 < len(cmd); i++ {
		if filepath.Base(cmd[i]) == "homepost" && cmd[i+1] == "cron" {
			return true
		}
	}
	return false
}
