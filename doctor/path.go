package doctor

import (
	"context"
	"fmt"
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
// cron (with MAILTO="" so cron itself stays silent). Each job is judged
// by the MAILTO it runs with, the one above it, as cron gives it.
func checkCron(c *checker, crontab func() ([]byte, error)) {
	const sys = "/usr/sbin/sendmail"
	_, sysOurs := whose(sys)
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
	others := ct.jobs - ct.wrapped - ct.own // cron mails their output, if anyone
	lost, lostPath := 0, ""
	for _, r := range ct.runs {
		if !cronFinds(r) {
			lost++
			lostPath = r.path
		}
	}
	switch {
	case ct.jobs == 0:
		c.ok("cron", "your crontab has no jobs")
	case lost > 0:
		self := ourBinary()
		with := "cron's PATH=" + cronPath + " (the crontab sets none)"
		if lostPath != cronPath {
			with = "the crontab's PATH=" + lostPath
		}
		c.warn("cron", "%d of %d job(s) run homepost by a name cron cannot find with %s: they never run, and with MAILTO=\"\" nothing says so; write the full path, %s, or put PATH=%s:%s before them", lost, ct.jobs, with, self, filepath.Dir(self), cronPath)
	case sysOurs && ct.silenced == 0:
		c.ok("cron", "%d job(s); cron mails through /usr/sbin/sendmail, which is homepost", ct.jobs)
	case others == 0 && ct.own == 0:
		c.ok("cron", "all %d job(s) run under homepost cron", ct.jobs)
	case others == 0:
		c.ok("cron", "all %d job(s) run under homepost cron, or are homepost agent or flush", ct.jobs)
	default:
		// Each job by the MAILTO it runs with: cron mails no output
		// where it is empty, and mails the rest through sendmail.
		var why []string
		if ct.silenced > 0 {
			why = append(why, fmt.Sprintf("%d of %d job(s) not under homepost cron run with MAILTO=\"\": their output is lost", ct.silenced, ct.jobs))
		}
		if mailed := others - ct.silenced; mailed > 0 && !sysOurs {
			if _, err := os.Stat(sys); err != nil {
				why = append(why, fmt.Sprintf("%d of %d job(s) not under homepost cron: their output is lost, as cron mails it through %s, which does not exist", mailed, ct.jobs, sys))
			} else {
				why = append(why, fmt.Sprintf("%d of %d job(s) not under homepost cron and %s is not homepost: their output may not reach you", mailed, ct.jobs, sys))
			}
		}
		c.warn("cron", "%s (use homepost cron -- CMD)", strings.Join(why, "; "))
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
	// own counts the jobs that are homepost agent or homepost flush,
	// as check --crontab prints one: what they print is homepost's own
	// log (that line appends it to the log file), not a job's result,
	// so their output is none that cron could lose.
	own int
	// silenced counts the other jobs that run with MAILTO="": the last
	// MAILTO line above them (crontab(5): a setting applies to the
	// job lines after it) is empty, so cron mails their output to no
	// one. The others' output cron mails through /usr/sbin/sendmail.
	silenced int
	// runs are the jobs' homepost commands, with the PATH cron gives
	// them: the word that names homepost, and the crontab's last PATH
	// before the job (cronPath where it sets none).
	runs []cronRun
}

// cronRun is how a crontab job names homepost: a word of its command
// and the PATH the job runs with.
type cronRun struct{ word, path string }

// cronPath is the PATH Debian's cron and cronie give a job when the
// crontab sets none; the user's login PATH, where make install puts
// ~/.local/bin, is not read.
const cronPath = "/usr/bin:/bin"

// cronFinds reports whether the shell cron runs a job with finds the
// homepost that r names: a bare name is looked up in the job's PATH as
// sh does (each entry taken as it is written: cron expands neither ~
// nor $HOME there); an absolute path must name an executable file; a
// word the shell expands (~/, $HOME/) or a relative path is taken as
// found, since the check cannot tell.
func cronFinds(r cronRun) bool {
	executable := func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
	}
	switch {
	case !strings.Contains(r.word, "/"):
		for _, dir := range strings.Split(r.path, ":") {
			if dir == "" {
				dir = "."
			}
			if executable(filepath.Join(dir, r.word)) {
				return true
			}
		}
		return false
	case filepath.IsAbs(r.word):
		return executable(r.word)
	default:
		return true
	}
}

// parseCrontab counts the jobs of a crontab(5) file, those run through
// "homepost cron" and those that are homepost agent or flush, each with
// the PATH it runs with (the last PATH line before it), and the others
// that run with MAILTO="" (the last MAILTO line before them). Environment
// lines (NAME=value) and comments are not jobs.
func parseCrontab(s string) crontabSummary {
	var c crontabSummary
	path := cronPath
	mailtoOff := false
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && !strings.ContainsAny(strings.TrimSpace(k), " \t*/,") {
			switch strings.TrimSpace(k) {
			case "MAILTO":
				v = strings.Trim(strings.TrimSpace(v), `"'`)
				mailtoOff = v == ""
			case "PATH":
				path = strings.Trim(strings.TrimSpace(v), `"'`)
			}
			continue
		}
		f := strings.Fields(line)
		var cmd []string
		switch {
		case strings.HasPrefix(f[0], "@"):
			cmd = shellWords(cronCommand(afterFields(line, 1)))
		case len(f) > 5:
			cmd = shellWords(cronCommand(afterFields(line, 5)))
		default:
			continue
		}
		c.jobs++
		if word, ok := wrappedCommand(cmd); ok {
			c.wrapped++
			c.runs = append(c.runs, cronRun{word: word, path: path})
		} else if word, ok := ownCommand(cmd); ok {
			c.own++
			c.runs = append(c.runs, cronRun{word: word, path: path})
		} else if mailtoOff {
			c.silenced++
		}
	}
	return c
}

// afterFields is line without its first n blank-separated fields: the
// command of a crontab job line, after its schedule.
func afterFields(line string, n int) string {
	for range n {
		line = strings.TrimLeft(line, " \t")
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			return ""
		}
		line = line[i:]
	}
	return strings.TrimLeft(line, " \t")
}

// cronCommand is the part of a job's command that cron hands to the
// shell: cron ends it at the first % not escaped by a backslash (what
// follows is the job's standard input) and takes the backslash off an
// escaped one, within quotes too.
func cronCommand(cmd string) string {
	var b strings.Builder
	for i := 0; i < len(cmd); i++ {
		switch {
		case cmd[i] == '\\' && i+1 < len(cmd) && cmd[i+1] == '%':
			b.WriteByte('%')
			i++
		case cmd[i] == '%':
			return b.String()
		default:
			b.WriteByte(cmd[i])
		}
	}
	return b.String()
}

// shellWords splits a command into words as sh(1) reads its quotes and
// backslashes, so that a path written in quotes, as check --crontab
// writes one with a blank in it, is one word. Expansions and operators
// are left as they are written.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	in := false // a word has begun
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case ' ', '\t', '\n':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		case '\'':
			in = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case '"':
			in = true
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
					i++
				}
				w.WriteByte(s[i])
			}
		case '\\':
			in = true
			if i+1 < len(s) {
				i++
				w.WriteByte(s[i])
			}
		default:
			in = true
			w.WriteByte(ch)
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// ownCommand reports whether a cron command runs homepost agent or
// homepost flush, and the word that names homepost. homepost must be
// the command the shell runs: the first word after any NAME=value
// settings, at the start or after ;, && or ||. A command that only
// mentions it (echo homepost agent) is a job like any other.
func ownCommand(cmd []string) (string, bool) {
	start := true
	for i, w := range cmd {
		switch {
		case w == ";" || w == "&&" || w == "||":
			start = true
		case start && isAssignment(w):
		case start && filepath.Base(w) == "homepost" && i+1 < len(cmd) && (cmd[i+1] == "agent" || cmd[i+1] == "flush"):
			return w, true
		default:
			start = false
		}
	}
	return "", false
}

// isAssignment reports whether a shell word sets a variable for the
// command after it (NAME=value).
func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	return strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == ""
}

// wrappedCommand reports whether a cron command line runs homepost cron,
// and the word that names homepost.
func wrappedCommand(cmd []string) (string, bool) {
	for i := 0; i+1 < len(cmd); i++ {
		if filepath.Base(cmd[i]) == "homepost" && cmd[i+1] == "cron" {
			return cmd[i], true
		}
	}
	return "", false
}
