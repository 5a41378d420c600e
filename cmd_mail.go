package main

import (
	"homepost/config"
	"homepost/mailx"
)

func init() {
	register(command{
		name:    "mail",
		aliases: []string{"mail", "mailx", "Mail"},
		summary: "send mail, or read the mail store (POSIX mailx)",
		run: func(args []string) int {
			return mailx.Main(args, func() (*config.Config, int) { return loadConfig("mail") })
		},
	})
}
