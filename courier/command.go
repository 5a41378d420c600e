package courier

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"homepost/addr"
	"homepost/capture"
	"homepost/config"
	"homepost/sysexits"
)

// Command runs |command targets (Copy.To is the command line), one after
// the other, each fed the copy's header and message (RunCommand).
type Command struct{ Config *config.Config }

// Deliver implements Courier.
func (k Command) Deliver(ctx context.Context, copies []*Copy) []Result {
	res := make([]Result, len(copies))
	for i, c := range copies {
		env := NewCommandEnv(k.Config, c.Sender, c.Rcpt, c.Orig)
		res[i] = RunCommand(ctx, k.Config, c.To, env, io.MultiReader(bytes.NewReader(c.Header), c.Body()))
	}
	return res
}

// CommandEnv is what a command learns about the delivery through its
// environment, as Postfix's local(8) sets it.
type CommandEnv struct {
	Sender            string // envelope sender, "" for <>
	Recipient         string // the recipient this copy is for (Target.Via)
	OriginalRecipient string // the recipient as first submitted
	Local             string // Recipient's local part, extension included
	Extension         string // the part after recipient_delimiter
	Domain            string // Recipient's domain
}

// NewCommandEnv fills a CommandEnv from the recipient a target is for
// (Target.Via) and the original recipient.
func NewCommandEnv(cfg *config.Config, sender, recipient, original string) CommandEnv {
	local, domain, _ := addr.Split(recipient)
	if domain == "" {
		domain = cfg.Hostname
	}
	env := CommandEnv{Sender: sender, Recipient: recipient, OriginalRecipient: original, Local: local, Domain: domain}
	if d := cfg.RecipientDelimiter; d != "" {
		if i := strings.Index(local, d); i > 0 {
			env.Extension = local[i+len(d):]
		}
	}
	return env
}

// shellMeta are the characters that make Postfix hand a command to
// /bin/sh; without them the command is split at blank space and run
// directly.
const shellMeta = "!\"#$%&'()*;<>?[\\]`{|}~\n\r"

// maxOutput is how much of a command's output goes into the reason.
const maxOutput = 500

// statusRE matches an enhanced status code (RFC 3463) at the start of a
// command's output.
// It is compiled on first use: every sendmail process links this package.
var statusRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([245])\.(\d{1,3})\.(\d{1,3})\b`)
})

// exitCodes maps exit statuses to enhanced status codes, as Postfix's
// sys_exits table does. EX_OSERR and EX_TEMPFAIL are temporary
// (sysexits.Temporary); the rest permanent.
var exitCodes = map[int]struct{ dsn, text string }{
	sysexits.Usage:       {"5.3.0", "command line usage error"},
	sysexits.DataErr:     {"5.6.0", "data format error"},
	sysexits.NoInput:     {"5.3.0", "cannot open input"},
	sysexits.NoUser:      {"5.1.1", "user unknown"},
	sysexits.NoHost:      {"5.1.2", "host name unknown"},
	sysexits.Unavailable: {"5.3.0", "service unavailable"},
	sysexits.Software:    {"5.3.0", "internal software error"},
	sysexits.OSErr:       {"4.3.0", "system resource problem"},
	sysexits.OSFile:      {"5.3.0", "critical OS file missing"},
	sysexits.CantCreate:  {"5.2.0", "can't create output file"},
	sysexits.IOErr:       {"5.3.0", "input/output error"},
	sysexits.TempFail:    {"4.3.0", "temporary failure"},
	sysexits.Protocol:    {"5.5.0", "remote error in protocol"},
	sysexits.NoPerm:      {"5.7.0", "permission denied"},
	sysexits.Config:      {"5.3.5", "configuration error"},
}

// RunCommand delivers msg (already prefixed with Return-Path and
// Delivered-To) to command on its standard input. The command runs with
// a clean environment, in the user's home, in its own process group, for
// at most cfg.CommandTimeout. Exit 0 is sent; 71, 75, a signal or the
// timeout are temporary; any other status is permanent, unless the
// output starts with an enhanced status code ("5.2.2 mailbox full"),
// which decides. The start of the output goes into the reason.
func RunCommand(ctx context.Context, cfg *config.Config, command string, env CommandEnv, msg io.Reader) Result {
	timeout := cfg.CommandTimeout.Duration
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	path, argv, missing := commandArgv(command)
	if len(argv) == 0 {
		return Perm("5.3.0", "empty command")
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = commandEnviron(cfg, env)
	cmd.Dir = cfg.Home
	if st, err := os.Stat(cfg.Home); err != nil || !st.IsDir() {
		cmd.Dir = "/"
	}
	cmd.Stdin = msg
	var out bytes.Buffer
	lw := &capture.LimitWriter{W: &out, N: maxOutput}
	cmd.Stdout, cmd.Stderr = lw, lw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The whole group, so that a shell's children die too.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second

	err := cmd.Run()
	text := oneLine(out.Bytes())
	if err == nil || exitedZero(cmd, err) {
		// The command exited 0 and took the copy, even when a process
		// it left in the background still held its output cmd.WaitDelay
		// later (exec.ErrWaitDelay), or the delivery was stopped or ran
		// out of time while that output was waited for: deferred, it
		// ran again at the next attempt, a second copy.
		return OK(fmt.Sprintf("delivered to command %s", quoteCmd(command)))
	}
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Temp("4.3.0", "command %s: timed out after %s%s", quoteCmd(command), timeout, suffix(text))
		}
		return Temp("4.3.0", "command %s: interrupted%s", quoteCmd(command), suffix(text))
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return Perm("5.3.0", "command %s: not found", quoteCmd(command))
		}
		if errors.Is(err, os.ErrPermission) {
			return Perm("5.3.0", "command %s: permission denied", quoteCmd(command))
		}
		return Temp("4.3.0", "command %s: %v", quoteCmd(command), err)
	}
	ws, _ := ee.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return Temp("4.3.0", "command %s: killed by signal %d (%s)%s", quoteCmd(command), int(ws.Signal()), ws.Signal(), suffix(text))
	}
	code := ee.ExitCode()
	if missing != "" && code == 127 {
		// The shell found no built-in, keyword or program of that name.
		return Perm("5.3.0", "command %s: %s not found in %s", quoteCmd(command), missing, commandPath)
	}
	if m := statusRE().FindStringSubmatch(text); m != nil && m[1] != "2" {
		dsn := m[0]
		rest := strings.TrimLeft(text[len(dsn):], " :-")
		if m[1] == "4" {
			return Temp(dsn, "command %s: exit status %d%s", quoteCmd(command), code, suffix(rest))
		}
		return Perm(dsn, "command %s: exit status %d%s", quoteCmd(command), code, suffix(rest))
	}
	se, known := exitCodes[code]
	if !known {
		se = struct{ dsn, text string }{"5.3.0", "unknown error"}
	}
	if se.dsn[0] == '4' {
		return Temp(se.dsn, "command %s: exit status %d (%s)%s", quoteCmd(command), code, se.text, suffix(text))
	}
	return Perm(se.dsn, "command %s: exit status %d (%s)%s", quoteCmd(command), code, se.text, suffix(text))
}

// commandArgv is how a command line runs, as Postfix's local(8) runs
// it: through /bin/sh -c when it holds shell metacharacters or when its
// first word is no program in the command's PATH (a built-in or a
// keyword: "exit 75", "test -d ~/x && ..."), otherwise split at blank
// space and run directly. missing is that first word when the shell
// runs the line only for want of a program, so that the shell's "not
// found" (status 127) can be told as such. path is the program to
// run; argv[0] stays the name as written.
func commandArgv(command string) (path string, argv []string, missing string) {
	shell := []string{"/bin/sh", "-c", command}
	if strings.ContainsAny(command, shellMeta) {
		return shell[0], shell, ""
	}
	argv = strings.Fields(command)
	if len(argv) == 0 {
		return "", nil, ""
	}
	if strings.Contains(argv[0], "/") {
		return argv[0], argv, ""
	}
	// exec.LookPath would search our own PATH; the command's PATH is
	// the clean one.
	p, err := lookPath(argv[0], commandPath)
	if err != nil {
		return shell[0], shell, argv[0]
	}
	return p, argv, ""
}

// MissingProgram returns why every delivery to command bounces for want
// of its program, or nil: the program named by its path (relative to
// the home, where commands run) does not exist, or a name that the
// shell would look for is neither a program in the command's PATH nor
// a built-in or keyword of /bin/sh. homepost check and homepost resolve
// say so with the line that names the command, before a message
// bounces. It is nil whenever that is not sure: when the shell runs the
// line and its first word may not be the name of a program (a quote, an
// expansion, an assignment or a redirection comes first, or a function
// is defined), or when /bin/sh cannot be asked. A wrong warning would
// teach the user to ignore the right ones.
func MissingProgram(cfg *config.Config, command string) error {
	_, argv, missing := commandArgv(command)
	if len(argv) == 0 {
		return nil
	}
	if missing == "" && !strings.ContainsAny(command, shellMeta) {
		// Run directly: a program found in PATH, or one named by a
		// path.
		if strings.Contains(argv[0], "/") {
			return absentProgram(cfg, argv[0])
		}
		return nil
	}
	word := shellWord(command)
	switch {
	case word == "" || strings.HasPrefix(word, "-") || strings.Contains(word, "="):
		return nil
	case !statusOfFirst(command):
		// "prog | cat", "prog; exit 0", "prog || exit 75": another
		// command's status decides.
		return nil
	case strings.Contains(word, "/"):
		// The shell runs a path as it is, without PATH or built-ins.
		return absentProgram(cfg, word)
	}
	if _, err := lookPath(word, commandPath); err == nil || shellKnows(cfg, word) {
		return nil
	}
	return fmt.Errorf("%s not found in %s (the PATH commands run with)", word, commandPath)
}

// absentProgram is the error for a program named by its path, relative
// to the directory commands run in, when nothing is there: exec fails
// (ENOENT) and the copy bounces as "not found". Any other error (a
// component that is no directory, a permission) is not said: the
// delivery may fail otherwise, or only for now.
func absentProgram(cfg *config.Config, path string) error {
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(commandDir(cfg), p)
	}
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s not found", p)
	}
	return nil
}

// commandDir is the directory a command runs in: the home, or / when
// the home is no directory.
func commandDir(cfg *config.Config) string {
	if st, err := os.Stat(cfg.Home); err != nil || !st.IsDir() {
		return "/"
	}
	return cfg.Home
}

// shellWord is the first word of a line that /bin/sh runs, when the
// shell surely takes it for the name of the command to run: the
// characters up to a blank, the end of the line or a control or
// redirection operator, none of them special to the shell. It is ""
// when the line starts otherwise (a quote, an expansion, a redirection,
// a parenthesis or brace), when the word does not end as a name does
// (a quote or an expansion goes on with it, a digit before '<' or '>'
// is a redirection), or when a '(' follows it, which defines a
// function of that name.
func shellWord(command string) string {
	rest := strings.TrimLeft(command, " \t")
	end := strings.IndexFunc(rest, func(c rune) bool {
		return c == ' ' || c == '\t' || strings.ContainsRune(shellMeta, c)
	})
	if end < 0 {
		end = len(rest)
	}
	word, after := rest[:end], rest[end:]
	if word == "" {
		return ""
	}
	if after != "" && !strings.ContainsRune(" \t\n;&|<>", rune(after[0])) {
		return ""
	}
	if after != "" && strings.ContainsRune("<>", rune(after[0])) && strings.Trim(word, "0123456789") == "" {
		return ""
	}
	if strings.HasPrefix(strings.TrimLeft(after, " \t"), "(") {
		return ""
	}
	return word
}

// statusOfFirst reports whether the status of a line that /bin/sh runs
// is surely that of its first command when that command is not found:
// no pipe, list or background job follows it, only commands joined by
// "&&", which do not run after it fails, and redirections ("2>&1").
// An operator within quotes counts too: the answer is then false,
// which says nothing.
func statusOfFirst(command string) bool {
	rest := command
	for _, op := range []string{"&&", ">&", "<&", ">|"} {
		rest = strings.ReplaceAll(rest, op, "")
	}
	return !strings.ContainsAny(rest, ";&|\n")
}

// shellKnows reports whether /bin/sh, with the environment of a
// command, runs name as a built-in, a keyword or a program of its own
// finding (command -v answers). It is true too when the shell cannot
// be asked, so that nothing is called missing without its word.
func shellKnows(cfg *config.Config, name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `command -v "$1"`, "sh", name)
	cmd.Env = []string{"PATH=" + commandPath, "HOME=" + cfg.Home}
	cmd.Dir = commandDir(cfg)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err == nil || !errors.As(err, &ee) || ctx.Err() != nil || !ee.Exited() {
		return true
	}
	// Not found: a status other than 0 and nothing said.
	return len(bytes.TrimSpace(out)) > 0
}

// commandPath is the PATH a command gets: the minimal one cron uses, so
// that a command behaves the same from the agent and from a test.
const commandPath = "/usr/local/bin:/usr/bin:/bin"

func commandEnviron(cfg *config.Config, env CommandEnv) []string {
	return []string{
		"SENDER=" + env.Sender,
		"RECIPIENT=" + env.Recipient,
		"ORIGINAL_RECIPIENT=" + env.OriginalRecipient,
		"LOCAL=" + env.Local,
		"EXTENSION=" + env.Extension,
		"DOMAIN=" + env.Domain,
		"USER=" + cfg.User,
		"LOGNAME=" + cfg.User,
		"HOME=" + cfg.Home,
		"SHELL=" + loginShell(cfg.User),
		"PATH=" + commandPath,
	}
}

// lookPath finds name in path (a PATH value), not in ours.
func lookPath(name, path string) (string, error) {
	for _, dir := range strings.Split(path, ":") {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// loginShell reads the user's shell from /etc/passwd; /bin/sh if none.
func loginShell(user string) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/bin/sh"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 7 && fields[0] == user && fields[6] != "" {
			return fields[6]
		}
	}
	return "/bin/sh"
}

func quoteCmd(c string) string {
	if len(c) > 80 {
		c = c[:77] + "..."
	}
	return fmt.Sprintf("%q", c)
}

func suffix(text string) string {
	if text == "" {
		return ""
	}
	return ": " + text
}

// oneLine is a command's output on one line, blank space squeezed,
// control characters and invalid UTF-8 shown as '?'.
func oneLine(out []byte) string {
	var b strings.Builder
	space := false
	for _, c := range string(out) {
		switch {
		case c == '\n' || c == '\r' || c == '\t' || c == ' ':
			space = b.Len() > 0
			continue
		case c < 0x20 || c == 0x7f || c == 0xfffd:
			c = '?'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(c)
	}
	return b.String()
}

// exitedZero reports whether cmd, which Run or Wait ended with err,
// exited with status 0 by itself. Wait's error then tells only of what
// came after: its output held by a process left in the background
// (exec.ErrWaitDelay), or a stop or a timeout while that output was
// waited for, or one that came as it exited: os/exec may run
// cmd.Cancel after the exit, and a kill of the process group then
// fails (ESRCH) or ends the leftovers, and Wait returns that error or
// the context's.
func exitedZero(cmd *exec.Cmd, err error) bool {
	return errors.Is(err, exec.ErrWaitDelay) || cmd.ProcessState != nil && cmd.ProcessState.Success()
}
