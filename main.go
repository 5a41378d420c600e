// Command homepost is a Maildir-first mail agent for one user: sendmail,
// mail, mailq and newaliases for a machine with no mail server, and the
// per-user agent that delivers what they queue.
//
// It is a multi-call binary: it dispatches on the base name of argv[0]
// (sendmail, mail, mailq, ...) and otherwise on its first argument
// (homepost sendmail ..., homepost agent ...). Each command lives in a
// cmd_*.go file and registers itself in the table below; a command's file
// holds its flags, usage and the call into the package that does the
// work (README's "How it fits together" shows which).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"homepost/agent"
	"homepost/config"
	"homepost/doctor"
	"homepost/submit"
	"homepost/sysexits"
)

// command is one entry of the dispatch table.
type command struct {
	name    string   // subcommand: homepost NAME
	aliases []string // argv[0] base names that run it
	summary string   // one line for homepost --help
	run     func(args []string) int
}

var commands []command

// register adds a command; each cmd_*.go file calls it from init.
func register(c command) { commands = append(commands, c) }

func lookup(name string, byArgv0 bool) *command {
	for i := range commands {
		c := &commands[i]
		if (!byArgv0 && c.name == name) || slices.Contains(c.aliases, name) {
			return c
		}
	}
	return nil
}

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int {
	base := filepath.Base(args[0])
	if c := lookup(base, true); c != nil {
		return c.run(args[1:])
	}
	if len(args) < 2 {
		usage(os.Stderr)
		return sysexits.Usage
	}
	name := args[1]
	switch name {
	case "-h", "--help", "help":
		usage(os.Stdout)
		return sysexits.OK
	case "--version", "version":
		fmt.Println("homepost", version)
		return sysexits.OK
	}
	if c := lookup(name, false); c != nil {
		return c.run(args[2:])
	}
	fail(name, errors.New("unknown command (see homepost --help)"))
	return sysexits.Usage
}

// version is set by the Makefile.
var version = "dev"

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: homepost COMMAND [ARGS]\n\nA Maildir-first mail agent for one user.\n\nCommands:\n")
	list := slices.Clone(commands)
	slices.SortFunc(list, func(a, b command) int { return strings.Compare(a.name, b.name) })
	for _, c := range list {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	var names []string
	for _, c := range list {
		names = append(names, c.aliases...)
	}
	fmt.Fprintf(w, "\nRun by one of these names, it acts as that program:\n  %s\nEvery command has --help; homepost --version prints the version.\nSee homepost(1).\n", strings.Join(names, ", "))
}

// fail prints "homepost: WHAT: WHY" to stderr.
// An error of several lines (every error of a config file) gets the
// prefix on each, so that a log filtered on it keeps them all.
func fail(what string, err error) {
	for _, l := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(os.Stderr, "homepost: %s: %s\n", what, l)
	}
}

// warn prints "homepost: WHAT: warning: WHY", each line of WHY with
// the prefix.
func warn(what string, err error) {
	for _, l := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(os.Stderr, "homepost: %s: warning: %s\n", what, l)
	}
}

// loadConfig loads the configuration or prints why it cannot.
func loadConfig(what string) (*config.Config, int) {
	cfg, err := config.Load()
	if err != nil {
		fail(what, err)
		return nil, sysexits.Config
	}
	return cfg, sysexits.OK
}

// loadQueueConfig loads the configuration for a command that queues mail
// or looks at the queue. Queuing needs only the outbox, so a file with an
// error is a warning here, not a refusal: the command goes on with the
// fallback that config.LoadQueue derives (the outbox the file names, or
// the default), and says after the error what it means (consequence).
// A file that does not even tell where the outbox is (it cannot be
// read, or its outbox line cannot) gives the default outbox, and the
// warning says where mail waits. It fails (78) only when nothing can be
// queued at all, and then says so. broken is the file's error, when
// cfg is that fallback.
func loadQueueConfig(what, consequence string) (cfg *config.Config, code int, broken error) {
	cfg, err := config.LoadQueue()
	if cfg == nil {
		if consequence != "" {
			err = fmt.Errorf("%w\nnot queued", err)
		}
		fail(what, err)
		return nil, sysexits.Config, err
	}
	var unknown *config.UnknownOutbox
	if errors.As(err, &unknown) {
		fate := fmt.Sprintf("the default outbox, %s, is used meanwhile", unknown.Outbox)
		if consequence != "" {
			fate = fmt.Sprintf("mail is queued in the default outbox, %s, and delivered from there once the file is fixed (should the fixed file name another outbox, homepost check says how to move it there)", unknown.Outbox)
		}
		for _, l := range unknownOutboxLines(unknown, fate) {
			fmt.Fprintf(os.Stderr, "homepost: %s: warning: %s\n", what, l)
		}
		return cfg, sysexits.OK, err
	}
	if err != nil {
		warn(what, err)
		st, running := agent.RunningStatus(cfg)
		other := ""
		if running && consequence != "" {
			other = doctor.OtherConfig(cfg, st.Pid)
		}
		switch {
		case other != "" && st.Held == "":
			// HOMEPOST_CONFIG (or HOME) names a file that the agent
			// never read: it delivers as its own file says.
			fmt.Fprintf(os.Stderr, "homepost: %s: warning: the running agent (pid %d) reads another configuration file, %s, and delivers as that file says\n", what, st.Pid, other)
		case other != "":
			fmt.Fprintf(os.Stderr, "homepost: %s: warning: the running agent (pid %d) reads another configuration file, %s, which has an error too: %s\n", what, st.Pid, other, st.Held)
		case consequence != "" && running && st.Held == "":
			// The agent that runs read the file before it broke, and
			// delivers with what it read.
			fmt.Fprintf(os.Stderr, "homepost: %s: warning: the running agent (pid %d) delivers with the configuration it read before; fix the file before it restarts\n", what, st.Pid)
		case consequence != "":
			fmt.Fprintf(os.Stderr, "homepost: %s: warning: %s\n", what, consequence)
		}
	}
	return cfg, sysexits.OK, err
}

// unknownOutboxLines are the lines that say why the outbox is unknown:
// the file's errors, each once, the one that hides the outbox followed
// by what it means ("..., so the outbox is unknown: " and fate). Both
// of u's errors name that line of the file, which was said twice, once
// alone and once with its consequence.
func unknownOutboxLines(u *config.UnknownOutbox, fate string) []string {
	lines := strings.Split(u.Err.Error(), "\n")
	var why *config.Error
	if errors.As(u.Why, &why) {
		where := strings.TrimSuffix(why.Error(), why.Msg)
		if i := strings.LastIndex(why.Msg, ", so "); i >= 0 && where != "" {
			for k, l := range lines {
				if strings.HasPrefix(l, where) {
					lines[k] = l + why.Msg[i:] + ": " + fate
					return lines
				}
			}
		}
	}
	return append(lines, u.Why.Error()+": "+fate)
}

// queuedAnyway is what a configuration error means for a message that
// is queued all the same.
const queuedAnyway = "the message is queued all the same, and delivered once the configuration is fixed (homepost check)"

// exitCode maps an error from the submit or outbox packages to sysexits.
func exitCode(err error) int { return submit.ExitCode(err) }
