package main

import (
	"fmt"
	"os"

	"homepost/agent"
	"homepost/outbox"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "mailq",
		aliases: []string{"mailq"},
		summary: "list the queue, in Postfix's format (--json: one object per message)",
		run:     runMailq,
	})
}

const mailqUsage = `usage: mailq [--json]

Lists the messages waiting in the outbox, in Postfix's format: queue ID
('*' being delivered, '!' held), size, arrival time, sender, and each
recipient still to do under the reason it waits. With --json, one JSON
object per message per line, as postqueue -j prints. Warns on standard
error when no agent is running. See mailq(1).
`

func runMailq(args []string) int {
	asJSON := false
	for _, a := range args {
		switch a {
		case "--json", "-j":
			asJSON = true
		case "-h", "--help":
			fmt.Print(mailqUsage)
			return sysexits.OK
		case "-v", "-bp":
		default:
			fail("mailq", fmt.Errorf("unknown option %s", a))
			return sysexits.Usage
		}
	}
	cfg, code := loadConfig("mailq")
	if cfg == nil {
		return code
	}
	entries, err := outbox.Dir(cfg.Outbox).List()
	if err != nil && !os.IsNotExist(err) {
		fail("mailq", err)
		return sysexits.TempFail
	}
	if _, running := agent.Running(cfg); !running && len(entries) > 0 {
		fmt.Fprintln(os.Stderr, "homepost: mailq: warning: no agent is running; start one with 'systemctl --user start homepost' or run 'homepost flush'")
	}
	if asJSON {
		if err := outbox.WriteJSON(os.Stdout, entries); err != nil {
			fail("mailq", err)
			return sysexits.IOErr
		}
		return sysexits.OK
	}
	outbox.WritePostfix(os.Stdout, entries)
	return sysexits.OK
}
