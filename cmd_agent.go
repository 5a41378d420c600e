package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"homepost/agent"
	"homepost/sdnotify"
	"homepost/sysexits"
	"homepost/termlog"
)

func init() {
	register(command{
		name:    "agent",
		summary: "run the delivery agent (--once: deliver what is due, then exit)",
		run:     runAgent,
	})
	register(command{
		name:    "flush",
		summary: "retry every deferred message now (same as sendmail -q)",
		run:     runFlush,
	})
}

const agentUsage = `usage: homepost agent [--once | --background]

Watches the outbox and delivers what lands there: to the local store,
files, commands, or the smarthost. One agent runs per user; a second one
says so and exits 0 (a one-shot or background delivery that sendmail
started is asked to give way instead). Logs one key=value line per delivery to standard
error. SIGHUP reloads the configuration, SIGUSR1 retries deferred mail
now, SIGTERM finishes the delivery in progress and exits.

  --once         deliver everything that is due, then exit
  --background   deliver, wait for deferred mail and retry it, exit when
                 the queue is empty; give way to a daemon that starts
                 (sendmail starts one where no agent runs)
`

// newLogger logs key=value lines to stderr. Under systemd, journald adds
// the time itself.
func newLogger() *slog.Logger {
	opts := &slog.HandlerOptions{}
	if os.Getenv("JOURNAL_STREAM") != "" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func runAgent(args []string) int {
	var opts agent.Options
	for _, a := range args {
		switch a {
		case "--once":
			opts.Once = true
		case "--background":
			opts.Background = true
		case "-h", "--help":
			fmt.Print(agentUsage)
			return sysexits.OK
		default:
			fail("agent", fmt.Errorf("unknown option %s", a))
			return sysexits.Usage
		}
	}
	return startAgent(opts, newLogger())
}

func startAgent(opts agent.Options, log *slog.Logger) int {
	cfg, code := loadConfig("agent")
	if cfg == nil {
		return code
	}
	opts.Ready, opts.Stopping = agentReady, sdnotify.Stopping
	err := agent.Run(context.Background(), cfg, log, opts)
	var le *agent.LockedError
	if errors.As(err, &le) {
		if !opts.Once {
			fmt.Fprintf(os.Stderr, "homepost: agent: %v\n", err)
		}
		return sysexits.OK
	}
	if err != nil {
		fail("agent", err)
		return sysexits.TempFail
	}
	return sysexits.OK
}

// agentReady tells systemd (Type=notify) that the agent watches the
// outbox, and keeps its watchdog fed when the unit sets WatchdogSec.
func agentReady() {
	sdnotify.Ready()
	if d := sdnotify.WatchdogInterval(); d > 0 {
		go func() {
			for range time.Tick(d) {
				sdnotify.Watchdog()
			}
		}()
	}
}

const flushUsage = `usage: homepost flush

Retries every deferred message now (sendmail -q). With an agent running,
tells it to; otherwise delivers in the foreground. In a terminal it says
in one line per message what happened to it; elsewhere it writes the
agent's key=value log lines.
`

func runFlush(args []string) int {
	for _, a := range args {
		if a == "-h" || a == "--help" {
			fmt.Print(flushUsage)
			return sysexits.OK
		}
		fail("flush", fmt.Errorf("unknown option %s", a))
		return sysexits.Usage
	}
	cfg, code := loadConfig("flush")
	if cfg == nil {
		return code
	}
	tty := termlog.IsTerminal(os.Stderr)
	if err := agent.Signal(cfg, syscall.SIGUSR1); err == nil {
		if tty {
			fmt.Fprintln(os.Stderr, "homepost: flush: the running agent retries every deferred message now; its log says how it went")
		}
		return sysexits.OK
	}
	opts := agent.Options{Once: true, Flush: true}
	if !tty {
		return startAgent(opts, newLogger())
	}
	h := termlog.New(os.Stderr, "homepost: flush: ")
	code = startAgent(opts, slog.New(h))
	if h.Close() == 0 && code == sysexits.OK {
		fmt.Fprintln(os.Stderr, "homepost: flush: nothing to deliver")
	}
	return code
}
