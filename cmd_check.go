package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"homepost/config"
	"homepost/doctor"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "check",
		summary: "check config, outbox, store, aliases, agent, relay, PATH and cron",
		run:     runCheck,
	})
}

const checkUsage = `usage: homepost check [--relay]
       homepost check --crontab
       homepost check --paths
       homepost check --without-agent

Checks that mail will flow and prints one line per item, starting with
ok, warn or FAIL: the config file (one that others can change, or in a
directory they can, FAILs with the chmod or chown that mends it), that
the outbox and the state directory are no place others can change,
that the outbox and the store are writable (a Maildir store as delivery
uses it: completed with tmp/, new/ and cur/, a file made in tmp/ and
renamed into new/; a link to nothing on its path FAILs; an mbox that is
a directory FAILs), the records of mbox rewrites set aside (.unapplied:
a rewrite a crash stopped, not finished because another program changed
the mbox since; each a warning that says where its contents lie and what
to do), the rewrites of mboxes that a crash of mail stopped and no
homepost program has finished yet (each a warning that names the mbox:
open it with mail -H -f MBOX (the store: or let the agent deliver to it)
before mutt or s-nail do, which would rewrite it half rewritten as it
is; check itself changes nothing), the notes of appends a killed mail
left (the file and where its last copy, maybe cut off, starts; the next
mail that reads mail checks it; for quit's move, the mailbox moved from,
whose messages copied whole that mail removes), how a batch of copies is
made durable (one syncfs, or an fsync per copy, and why), the alias
files and ~/.forward (parsed, safe owner, mode and directories; a file
target that names a directory but no Maildir is a warning with its
file:line, and so is a line whose every message bounces: a command whose
program is not found, a name that is neither a login nor an alias),
the agent (one that holds the queue for an error that the file, fixed
a moment ago, no longer has is waited for, at most 7 s, while it lets
the change settle, as flush does; one that runs a homepost replaced
since by an upgrade is a warning that says how to restart it) and its
systemd unit, the SMTP listener (a NOOP session on
each of its addresses; that the agent's own process holds each TCP
address, else which program does; a port below 1024 that only root may
open; where the running agent listens when not where check looks; and
where the AUTH secret is),
lingering, the
relay (an exec: program that is homepost's own sendmail, or a url that
names the agent's own listen address, FAILs: the mail would loop; no
from with a host name that is no mail domain warns), which sendmail and
mail come first on PATH and at /usr/sbin/sendmail, and whether cron's
mail reaches homepost. A running agent that reads another configuration
file than this check (another HOMEPOST_CONFIG, XDG_CONFIG_HOME or HOME)
is named with its file.

  --relay   connect to the smarthost and set up TLS (and authenticate,
            where supported); nothing is sent. A server that has not
            greeted within 15 s fails, with the smtps:// url to try
            (a port that wants TLS from the first byte says nothing)
  --crontab print, and do nothing else, the crontab(5) line that starts
            delivery after a reboot where no systemd user instance runs
            (homepost flush; homepost agent where [smtp] names a listen
            address or a socket of its own, which only an agent opens,
            or where deliver_without_agent = false, as only an agent
            then retries):
            (crontab -l; homepost check --crontab) | crontab -
  --paths   print, and do nothing else, where the configuration puts
            things, as homepost reads it (for scripts; make install uses
            it), one NAME=PATH a line: config (the file read, or looked
            for), state_dir, outbox, lock (the agent's), log (that of
            background deliveries) and store (a Maildir path ending in
            /, or mbox:PATH). When the file has an error: the places the
            queue still uses meanwhile, the error on stderr, exit 78;
            when not even those can be told (the file cannot be read,
            or its outbox line cannot), nothing on stdout, exit 78.
  --without-agent
            print, and do nothing else, what delivers mail while no
            agent runs (for scripts; make install uses it): background
            (sendmail starts a background delivery after each message)
            or nothing (deliver_without_agent = false: mail waits for
            homepost agent or homepost flush)

Exit status: 0 when nothing FAILs, 1 when something does, 78 when the
configuration has an error (the line names file:line; mail is queued
meanwhile, and its delivery held). See homepost(1).
`

func runCheck(args []string) int {
	probe := false
	for i, a := range args {
		switch a {
		case "--":
			// The end of the options; check takes no operand.
			if i+1 < len(args) {
				fail("check", fmt.Errorf("unexpected argument %s", args[i+1]))
				return sysexits.Usage
			}
		case "-h", "--help":
			fmt.Print(checkUsage)
			return sysexits.OK
		case "--relay":
			probe = true
		case "--paths":
			return printPaths()
		case "--without-agent":
			cfg, code, _ := loadQueueConfig("check", "")
			if cfg == nil {
				return code
			}
			if cfg.DeliverWithoutAgent {
				fmt.Println("background")
			} else {
				fmt.Println("nothing")
			}
			return sysexits.OK
		case "--crontab":
			cfg, code, _ := loadQueueConfig("check", "")
			if cfg == nil {
				return code
			}
			fmt.Println(doctor.CrontabLine(cfg))
			return sysexits.OK
		default:
			fail("check", fmt.Errorf("unknown option %s", a))
			return sysexits.Usage
		}
	}
	// A report that did not reach its reader fails as mailq's listing
	// does (outputFailed): a FAIL written nowhere is no verdict.
	out := &firstError{w: os.Stdout}
	r := doctor.Run(out, doctor.Options{Relay: probe})
	switch {
	case out.err != nil:
		return outputFailed("check", out.err, "")
	case r.Config:
		return sysexits.Config
	case r.Failed:
		return 1
	}
	return sysexits.OK
}

// printPaths prints where the configuration puts things, NAME=PATH a
// line, for scripts: make install finds the agent's lock and the outbox
// this way, as homepost itself reads the file, rather than guess at a
// TOML layout with sed. A file with an error gives the places that the
// queue still uses (config.LoadQueue: where the shims queue and the
// agent looks), the error on stderr, and exit 78; when not even they
// can be told, nothing is printed. A path with a new line cannot be
// printed one a line, and is an error rather than a wrong line.
func printPaths() int {
	cfg, err := config.LoadQueue()
	var unknown *config.UnknownOutbox
	if errors.As(err, &unknown) {
		// The shims queue in the default outbox meanwhile, but the
		// places the file names (the agent's lock among them) are
		// unknown: a script must not act on a guess.
		fail("check", fmt.Errorf("%w\n(%v: no paths printed)", err, unknown.Why))
		return sysexits.Config
	}
	if cfg == nil {
		fail("check", err)
		return sysexits.Config
	}
	file := cfg.File
	if file == "" {
		file = config.DefaultPath(cfg.Home)
	}
	paths := [][2]string{
		{"config", file}, {"state_dir", cfg.StateDir}, {"outbox", cfg.Outbox},
		{"lock", cfg.LockPath()}, {"log", cfg.LogPath()}, {"store", cfg.Store},
	}
	var b strings.Builder
	for _, p := range paths {
		if strings.ContainsAny(p[1], "\n\x00") {
			fail("check", fmt.Errorf("the %s path %q holds a new line, which --paths cannot print one a line", p[0], p[1]))
			return 1
		}
		fmt.Fprintf(&b, "%s=%s\n", p[0], p[1])
	}
	if _, werr := os.Stdout.WriteString(b.String()); werr != nil {
		// make install acts on these paths: none is better than a
		// cut list.
		return outputFailed("check", werr, "")
	}
	if err != nil {
		fail("check", fmt.Errorf("%w\n(the paths printed are those that the queue uses until the file is fixed)", err))
		return sysexits.Config
	}
	return sysexits.OK
}

// firstError passes writes on to w and keeps the first error, after
// which it writes nothing more.
type firstError struct {
	w   io.Writer
	err error
}

func (f *firstError) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	n, err := f.w.Write(p)
	f.err = err
	return n, err
}
