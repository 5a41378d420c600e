package main

import (
	"fmt"
	"os"

	"homepost/config"
	"homepost/mailx"
	"homepost/submit"
)

// loadMailConfig loads the configuration for mail: to send, a file with
// an error is a warning (the message is queued all the same); to read
// the store, it is an error, since the store it names is unknown. To
// read a mailbox named by -f (named), which needs nothing of the file,
// the error is a warning too: the configuration is the one sendmail
// would queue with, for a reply. When reading, mail that waits in the
// outbox with no agent running gets the background delivery (when
// sending, submit wakes it).
func loadMailConfig(send, named bool) (*config.Config, int) {
	var cfg *config.Config
	var code int
	var broken error
	switch {
	case send:
		cfg, code, _ = loadQueueConfig("mail", queuedAnyway)
	case named:
		cfg, code, broken = loadQueueConfig("mail", "")
		if cfg != nil && broken != nil {
			fmt.Fprintf(os.Stderr, "homepost: mail: warning: the mailbox is read all the same (-f needs nothing of the file); a reply is queued, and delivered once the configuration is fixed (homepost check)\n")
		}
	default:
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
