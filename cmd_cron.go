package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"homepost/cronjob"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "cron",
		summary: "run a job; mail its output only if it printed something or failed",
		run:     runCron,
	})
}

const cronUsage = `usage: homepost cron [--] COMMAND [ARG ...]

Runs COMMAND with its standard output and standard error merged, and mails
what it printed to the user only when it printed something or exited
non-zero, like chronic and cronic: a silent success sends nothing. Output
past 4 MiB is cut, and the mail says so. The subject names the host, the
command, its exit status and how long it ran.
Exits with the job's status: 128+N when killed by signal N, 127 when the
command is not found, 126 when it cannot be run. Mail goes to $MAILTO
when set and not empty, else to the user (an address in it that cannot
be read goes to the user too, named in the mail); it is sent from the user (as
[relay] from says for mail that leaves): cron's MAILFROM and
CONTENT_TYPE are not read. A configuration error never stops the job:
when it leaves the outbox unknown (the file cannot be read), the report
is queued in the default outbox; when nothing can be queued at all, the
output goes to standard error instead. Debian's cron and cronie mail
through /usr/sbin/sendmail whatever the crontab's PATH says; where that
is not homepost, wrap each job. They run jobs with PATH=/usr/bin:/bin,
so name homepost by its full path, or set PATH first (homepost check
warns of a job that names homepost where cron cannot find it):

  MAILTO=""
  PATH=/home/you/.local/bin:/usr/bin:/bin
  17 3 * * *  homepost cron -- backup --quiet

See homepost(1).
`

func runCron(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "--":
			args = args[1:]
		case "-h", "--help":
			fmt.Print(cronUsage)
			return sysexits.OK
		default:
			if strings.HasPrefix(args[0], "-") {
				fail("cron", fmt.Errorf("unknown option %s (put -- before the command)", args[0]))
				return sysexits.Usage
			}
		}
	}
	if len(args) == 0 {
		fail("cron", errors.New("no command given"))
		fmt.Fprint(os.Stderr, "usage: homepost cron [--] COMMAND [ARG ...]\n")
		return sysexits.Usage
	}
	// A configuration with an error is reported before the job runs; the
	// job runs all the same, and its report is queued (in the default
	// outbox when the file does not say where its own is). When nothing
	// can be queued at all, the report has nowhere to go: the job still
	// runs, and its output goes to stderr below.
	cfg, code, broken := loadQueueConfig("cron", "the job's report is queued all the same, and delivered once the configuration is fixed (homepost check)")
	r, err := cronjob.Run(cfg, broken, args)
	if err != nil {
		fail("cron", err)
		return sysexits.TempFail
	}
	defer r.Close()
	for _, msg := range r.Returned {
		fmt.Fprintf(os.Stderr, "homepost: cron: %s: the report goes to %s with the error\n", msg, cfg.User)
	}
	if r.Unsent != nil {
		// The output is lost unless it goes somewhere: cron mails
		// whatever we print, if it can.
		fail("cron", r.Unsent)
		r.WriteOutput(os.Stderr)
	}
	if r.Status == 0 {
		if cfg == nil {
			return code // the configuration's error, said above
		}
		if r.Unsent != nil {
			return exitCode(r.Unsent)
		}
	}
	return r.Status
}
