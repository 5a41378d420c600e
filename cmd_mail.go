package main

import (
	"homepost/config"
	"homepost/mailx"
	"homepost/submit"
)

// loadMailConfig loads the configuration for mail: to send, a file with
// an error is a warning (the message is queued all the same); to read,
// it is an error, since the store it names is unknown. When reading,
// mail that waits in the outbox with no agent running gets the
// background delivery (when sending, submit wakes it).
func loadMailConfig(send bool) (*config.Config, int) {
	var cfg *config.Config
	var code int
	if send {
		cfg, code, _ = loadQueueConfig("mail", queuedAnyway)
	} else {
		cfg, code = loadConfig("mail")
	}
	if cfg != nil && !send {
		submit.WakeWaiting(cfg)
	}
	return cfg, code
}

func init() {
	register(command{
		name:    "mail",
		aliases: []string{"mail", "mailx", "Mail"},
		summary: "send mail, or read the mail store (POSIX mailx)",
		run: func(args []string) int {
			return mailx.Main(args, loadMailConfig)
		},
	})
}
