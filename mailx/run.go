package mailx

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"homepost/config"
	"homepost/submit"
	"homepost/sysexits"
)

// Exit codes from sysexits(3).
const (
	exOK       = sysexits.OK
	exUsage    = sysexits.Usage
	exDataErr  = sysexits.DataErr
	exNoInput  = sysexits.NoInput
	exIOErr    = sysexits.IOErr
	exTempFail = sysexits.TempFail
	// exHangup ends mail after a hangup (or SIGTERM) at a terminal, as
	// BSD mail and s-nail end.
	exHangup = 1
)

// env is what both modes share: configuration, settings and the
// standard streams.
type env struct {
	cfg  *config.Config
	set  *settings
	in   *input
	out  *bufio.Writer
	errw io.Writer
	opts *options
}

// Main runs mail(1) with the arguments after the program name. load
// returns the configuration for sending (send) or reading, or an exit
// code after printing why not; named is -f: the mailbox read is one the
// command line names (or ~/mbox), not the store the configuration names.
// Queueing a message wakes delivery (submit does).
func Main(args []string, load func(send, named bool) (*config.Config, int)) int {
	o, err := parseOptions(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "homepost: mail: %v\n%s", err, UsageText)
		return exUsage
	}
	if o.help {
		fmt.Print(UsageText)
		return exOK
	}
	if o.user != "" {
		fmt.Fprintf(os.Stderr, "homepost: mail: -u %s: reading another user's mailbox is not supported (homepost serves one user; use -f FILE)\n", o.user)
		return exUsage
	}
	// Addresses given only with -c or -b send too, as in s-nail.
	send := !o.file && (len(o.operands) > 0 || o.extract || len(o.cc) > 0 || len(o.bcc) > 0)
	if !send && (o.hasSubject || len(o.cc) > 0 || len(o.bcc) > 0 || len(o.attach) > 0 || o.noEmpty) {
		fmt.Fprintf(os.Stderr, "homepost: mail: no recipients given: -s, -a and -E need addresses\n")
		return exUsage
	}
	if o.file && len(o.operands) > 1 {
		fmt.Fprintf(os.Stderr, "homepost: mail: -f takes one mailbox\n")
		return exUsage
	}
	cfg, code := load(send, o.file)
	if cfg == nil {
		return code
	}
	e := &env{
		cfg:  cfg,
		set:  newSettings(),
		in:   newInput(os.Stdin),
		out:  bufio.NewWriterSize(os.Stdout, 64<<10),
		errw: os.Stderr,
		opts: o,
	}
	defer e.in.close()
	defer e.out.Flush()
	mode := byte('r')
	if send {
		mode = 's'
	}
	e.loadRC(mode)
	if code := e.runEarly(); code != exOK {
		return code
	}
	if send {
		return e.sendMode()
	}
	// Copies that a mail killed in the middle of an append left cut
	// off at the end of an mbox are cut back first. Sending leaves
	// them (a message sent does not wait for the lock of a mailbox it
	// does not write): the record of sent mail resolves those of its
	// own file.
	e.recoverAppends()
	return e.readMode()
}

// loadRC reads /etc/mail.rc (unless -n) and $MAILRC or ~/.mailrc.
// Problems in the user's file are reported with file:line; the system
// file may hold commands of another mailx and is read leniently.
func (e *env) loadRC(mode byte) {
	if !e.opts.noSysRC {
		e.set.loadFile("/etc/mail.rc", mode, false)
	}
	path := os.Getenv("MAILRC")
	if path == "" {
		path = filepath.Join(e.cfg.Home, ".mailrc")
	}
	for _, err := range e.set.loadFile(path, mode, true) {
		fmt.Fprintf(e.errw, "homepost: mail: %v\n", err)
	}
}

// runEarly runs the -S settings and -E commands after the start-up
// files, so that the command line wins. A variable homepost gives no
// meaning to is kept and ignored, as an unknown "set" in a start-up file
// is; a command that needs a mailbox is refused with a warning, and the
// message is sent all the same.
func (e *env) runEarly() int {
	for _, c := range e.opts.early {
		if c.set != "" {
			if err := e.set.apply([]string{"set", c.set}); err != nil {
				e.warn("-S %s: %v", c.set, err)
				return exUsage
			}
			continue
		}
		words, err := splitWords(c.exec)
		if err != nil {
			e.warn("-E %s: %v", c.exec, err)
			return exUsage
		}
		if len(words) == 0 {
			continue
		}
		if err := e.set.apply(words); err != nil {
			e.warn("-E %s: %v (only commands of start-up files run before sending)", c.exec, err)
		}
	}
	return exOK
}

// warn prints "homepost: mail: MSG" on stderr.
func (e *env) warn(format string, a ...any) {
	e.out.Flush()
	fmt.Fprintf(e.errw, "homepost: mail: "+format+"\n", a...)
}

// exitCode maps a submission error to sysexits.
func exitCode(err error) int { return submit.ExitCode(err) }
