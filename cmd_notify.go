package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"homepost/report"
	"homepost/submit"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "notify",
		summary: "mail a failed systemd unit's status and journal to the user",
		run:     runNotify,
	})
}

const notifyUsage = `usage: homepost notify [--system] UNIT

Mails the user the status of UNIT (systemctl --user status) and its last
50 journal lines (journalctl --user -u UNIT), with the subject
"[HOST] unit UNIT failed". It is what homepost-notify@.service runs; any
user unit reports its failures by mail with

  [Unit]
  OnFailure=homepost-notify@%n.service

Where systemctl or journalctl is missing, the mail still names the unit,
the host and the failure that systemd passed in $MONITOR_*. --system asks
about a system unit instead. See homepost(1).
`

func runNotify(args []string) int {
	system := false
	var unit string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-h" || a == "--help":
			fmt.Print(notifyUsage)
			return sysexits.OK
		case a == "--system":
			system = true
		case a == "--user":
			system = false
		case a == "--":
			if i+1 < len(args) && unit == "" {
				unit = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "-"):
			fail("notify", fmt.Errorf("unknown option %s", a))
			return sysexits.Usage
		case unit != "":
			fail("notify", errors.New("give one unit"))
			return sysexits.Usage
		default:
			unit = a
		}
	}
	if err := report.CheckUnitName(unit); err != nil {
		fail("notify", err)
		fmt.Fprint(os.Stderr, "usage: homepost notify [--system] UNIT\n")
		return sysexits.Usage
	}
	cfg, code, _ := loadQueueConfig("notify", queuedAnyway)
	if cfg == nil {
		return code
	}
	msg := report.Unit{Host: cfg.Hostname, To: cfg.User, Name: unit, System: system, Now: time.Now()}.Message()
	if _, err := submit.Submit(cfg, submit.Options{Recipients: []string{cfg.User}, IgnoreDots: true}, msg); err != nil {
		fail("notify", err)
		return exitCode(err)
	}
	return sysexits.OK
}
