// Command sendmail is homepost's sendmail for the path that every cron
// job, script, git and PHP take: it queues one message and carries only
// what that needs. Every other mode (-bs, -bp, -bi, -bv, -q, -I), and a
// configuration file that only the full TOML parser can read, it hands
// to "homepost sendmail" by exec, with the same arguments and standard
// input untouched, as Postfix's sendmail hands the queue file to
// postdrop.
//
// Why a second program: a Go program runs the package initialisers of
// everything it links, whatever argv[0] says, and homepost links TLS,
// SMTP, the mail reader and a TOML parser. This one links package
// submit (the one implementation of the command line and of queueing,
// which homepost sendmail runs too), settings and outbox, so that its
// start costs about what any Go program's does.
//
// homepost is looked for beside this program (symlinks resolved), else
// in $PATH.
package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"homepost/settings"
	"homepost/submit"
	"homepost/sysexits"
)

func main() {
	// No allocation profile: its first sample (a stack walk and a
	// bucket) would be most of what a one-message process allocates
	// besides the message.
	runtime.MemProfileRate = 0
	// The local time zone (for a Date field to add) is loaded here,
	// where the stack is shallow: loaded deep in Submit, its 4 KB read
	// buffer grows the goroutine's stack once more, which costs about
	// ten page faults, more than the load itself.
	time.Now().Zone()
	os.Exit(run(os.Args))
}

func run(args []string) int {
	submit.Homepost = submit.FindHomepost
	return submit.Sendmail{
		Load: func() (*settings.Config, int) {
			cfg, err := settings.Read()
			if err != nil {
				// A file beyond settings' reader, or an error:
				// homepost reads it and says what is wrong.
				return nil, handOff(args, sysexits.TempFail)
			}
			return cfg, sysexits.OK
		},
		Other: func(*submit.SendmailArgs, []string) int { return handOff(args, sysexits.Unavailable) },
	}.Run(args[1:])
}

// handOff replaces this process with "homepost sendmail ARGS". It
// returns, with status, only when homepost cannot be run.
func handOff(args []string, status int) int {
	exe, err := submit.FindHomepost()
	if err == nil {
		argv := append([]string{exe, "sendmail"}, args[1:]...)
		err = fmt.Errorf("run %s: %w", exe, syscall.Exec(exe, argv, os.Environ()))
	}
	submit.Fail("sendmail", err)
	return status
}
