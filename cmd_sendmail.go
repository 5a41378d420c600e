package main

import (
	"fmt"
	"os"

	"homepost/bsmtp"
	"homepost/config"
	"homepost/submit"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "sendmail",
		aliases: []string{"sendmail", "send-mail", "sendmail.homepost"},
		summary: "queue a message (sendmail(8) compatible)",
		run:     runSendmail,
	})
}

func runSendmail(args []string) int {
	return submit.Sendmail{
		Load: func() (*config.Config, int) {
			cfg, code, _ := loadQueueConfig("sendmail", queuedAnyway)
			return cfg, code
		},
		Other: sendmailMode,
	}.Run(args)
}

// sendmailMode runs the modes of sendmail that are other commands.
func sendmailMode(a *submit.SendmailArgs, _ []string) int {
	switch a.Mode {
	case "p":
		return runMailq(nil)
	case "s":
		cfg, code, _ := loadQueueConfig("sendmail", queuedAnyway)
		if cfg == nil {
			return code
		}
		if err := bsmtp.Serve(cfg, os.Stdin, os.Stdout); err != nil {
			fail("sendmail -bs", err)
			return exitCode(err)
		}
		return sysexits.OK
	}
	name := map[string]string{"i": "newaliases", "v": "resolve", "q": "flush"}[a.Mode]
	c := lookup(name, false)
	if c == nil {
		fail("sendmail", fmt.Errorf("-b%s is not available in this build", a.Mode))
		return sysexits.Usage
	}
	var rest []string
	if a.Mode == "v" {
		// The recipients are addresses, even one that begins with "-"
		// (given after sendmail's "--"): none is an option of resolve.
		rest = append([]string{"--"}, a.Opts.Recipients...)
	}
	return c.run(rest)
}
