package main

import (
	"fmt"
	"os"

	"homepost/doctor"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "check",
		summary: "check the setup: config, outbox, store, aliases, agent, relay, PATH, cron",
		run:     runCheck,
	})
}

const checkUsage = `usage: homepost check [--relay]
       homepost check --crontab

Checks that mail will flow and prints one line per item, starting with
ok, warn or FAIL: the config file, that the outbox and the store are
writable, how a batch of copies is made durable (one syncfs, or an
fsync per copy, and why), the alias files and ~/.forward (parsed, safe
owner and mode),
the agent and its systemd unit, the SMTP listener (a NOOP session on
each of its addresses; that the agent's own process holds each TCP
address, else which program does; and where the AUTH secret is),
lingering, the
relay, which sendmail and mail come first on PATH and at
/usr/sbin/sendmail, and whether cron's mail reaches homepost. A running agent that reads
another configuration file than this check (another HOMEPOST_CONFIG,
XDG_CONFIG_HOME or HOME) is named with its file.

  --relay   connect to the smarthost and set up TLS (and authenticate,
            where supported); nothing is sent
  --crontab print, and do nothing else, the crontab(5) line that starts
            delivery after a reboot where no systemd user instance runs:
            (crontab -l; homepost check --crontab) | crontab -

Exit status: 0 when nothing FAILs, 1 when something does, 78 when the
configuration has an error (the line names file:line; mail is queued
meanwhile, and its delivery held). See homepost(1).
`

func runCheck(args []string) int {
	probe := false
	for _, a := range args {
		switch a {
		case "-h", "--help":
			fmt.Print(checkUsage)
			return sysexits.OK
		case "--relay":
			probe = true
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
	r := doctor.Run(os.Stdout, doctor.Options{Relay: probe})
	switch {
	case r.Config:
		return sysexits.Config
	case r.Failed:
		return 1
	}
	return sysexits.OK
}
