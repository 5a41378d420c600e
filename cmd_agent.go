package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"homepost/agent"
	"homepost/config"
	"homepost/doctor"
	"homepost/maildir"
	"homepost/smtpd"
	"homepost/submit"
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
started is asked to give way instead, and one that is stopping after
SIGTERM is waited for, so that "kill PID; homepost agent" restarts
it). Logs one key=value line per delivery to standard error. SIGHUP
reloads the configuration, SIGUSR1 retries deferred mail now, SIGTERM
ends the delivery in progress and exits: a smarthost delivery gets 2 s,
or up to 30 s more for the answer to a message the smarthost has whole.
The files (config.toml, aliases, .forward) are watched: a change is
read once no file has changed for half a second (up to 5 s for one emptied or
removed), and no new delivery starts meanwhile, so a file written in
several steps is never read half written; SIGHUP too waits for a file
that changed in the last half second. A file that is a symbolic link is
watched where it points (a dotfiles tree), and a change made while the
agent read the file, before it watched it, is read too. A reload applies
[smtp] (opens and closes addresses) and retries at once the deferred
mail whose destination it changes ([relay]: remote mail; anything else:
local mail). A reload that changes outbox or state_dir is followed: the
agent delivers from the new outbox, moves into it what waits in the old
one, and takes the lock of the new state_dir (keeping the old one). A
configuration file with an error does not stop it: it holds
the queue (delivers nothing), says why with file:line, and delivers once
the file is fixed; a reload that finds an error keeps the configuration
read before.

The daemon (neither --once nor --background) also accepts SMTP from your
programs: on $XDG_RUNTIME_DIR/homepost/smtp and the loopback addresses
of [smtp] listen, or on the sockets that systemd passes
(homepost-smtp.socket). See SMTP LISTENER in homepost(1).

  --once         deliver everything that is due, then exit; while another
                 agent runs, have it deliver what is due and wait until
                 it has (also with a configuration error, which it
                 warns of: that agent delivers with the file it read
                 before; exit 78 with an error and no such agent)
  --background   deliver, wait for deferred mail and retry it, exit when
                 the queue is empty; give way to a daemon that starts
                 (sendmail starts one where no agent runs); with a
                 configuration error, hold the queue and wait for the
                 fix while mail waits (SIGTERM ends it at once)
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
	// A file with an error gives the fallback that tells where the queue
	// is: the agent holds it, and logs why. The file is noted before it
	// is read: a change made before the agent watches it is read again.
	opts.Reading = agent.StartReading()
	cfg, err := config.LoadQueue()
	if cfg == nil {
		fail("agent", err)
		return sysexits.Config
	}
	opts.ConfigErr = err
	if err != nil && opts.Once && !opts.Background {
		if code, done := onceWithAgent(cfg, err); done {
			return code
		}
	}
	return startAgent(cfg, opts, newLogger())
}

// onceWithAgent is agent --once with a configuration that does not
// load: an agent that runs and does not hold the queue read the file
// before it broke and delivers with what it read, so it is asked to
// deliver what is due and waited for, as flush does, with the warning
// the other commands give. It reports false when no such agent runs
// (or it went away): the caller then holds, exit 78.
func onceWithAgent(cfg *config.Config, broken error) (int, bool) {
	st, running := agent.RunningStatus(cfg)
	if !running || st.Held != "" {
		return 0, false
	}
	warn("agent", broken)
	if other := doctor.OtherConfig(cfg, st.Pid); other != "" {
		fmt.Fprintf(os.Stderr, "homepost: agent: warning: the running agent (pid %d) reads another configuration file, %s, and delivers as that file says\n", st.Pid, other)
	} else {
		fmt.Fprintf(os.Stderr, "homepost: agent: warning: the running agent (pid %d) delivers with the configuration it read before; fix the file before it restarts\n", st.Pid)
	}
	werr := agent.AwaitPass(context.Background(), cfg)
	switch {
	case werr == nil:
		return sysexits.OK, true
	case errors.Is(werr, agent.ErrSmarthostBusy):
		fmt.Fprintf(os.Stderr, "homepost: agent: the running agent (pid %d) has delivered what is due; its delivery to the smarthost is still in progress\n", st.Pid)
		return sysexits.OK, true
	case errors.Is(werr, agent.ErrNoAnswer):
		return sysexits.OK, true // an older agent: it delivers on its own
	}
	return 0, false // it went away: nothing delivers with a good configuration
}

func startAgent(cfg *config.Config, opts agent.Options, log *slog.Logger) int {
	log = slog.New(eachError{log.Handler()})
	// What a Lock of an mbox finds (a rewrite record set aside) goes to
	// this log too, as the rest of what the agent says.
	maildir.Logger = log
	// The daemon serves the SMTP listener while it holds the lock:
	// Ready is called once it has it and watches the outbox. A reload
	// (a changed file, SIGHUP, a held agent's file fixed) opens what the
	// configuration names anew and closes what it no longer names; an
	// agent that started held had read no [smtp] table at all. What
	// could not be opened is tried again at SIGHUP, at the end of a hold
	// and when [smtp] changes, not at each changed .forward.
	var svc *smtpd.Service
	var stopSMTP func()
	// startFailed: nothing could be served, with these [smtp] settings;
	// a reload not asked for that keeps them does not try again (and
	// log the same error again), as Reconfigure does not.
	var startFailed *config.SMTP
	serves := !opts.Once && !opts.Background
	opts.Ready = func() []any {
		var attrs []any
		if serves && stopSMTP == nil {
			s, where, err := smtpd.StartService(cfg, log)
			if err != nil {
				log.Error("smtp listener", "reason", err)
				tried := cfg.SMTP
				startFailed = &tried
			}
			svc, stopSMTP = s, func() {}
			if s != nil {
				stopSMTP = s.Stop
			}
			if where != "" {
				attrs = append(attrs, "smtp", where)
			}
		}
		agentReady()
		return attrs
	}
	if serves {
		opts.Receiving = smtpd.Receiving
		opts.Streaming = smtpd.Streaming
		opts.Reloaded = func(c *config.Config, retry bool) {
			if svc == nil {
				if !retry && startFailed != nil && reflect.DeepEqual(*startFailed, c.SMTP) {
					return
				}
				// Nothing was served: start as at the agent's start.
				s, where, err := smtpd.StartService(c, log)
				startFailed = nil
				if err != nil {
					log.Error("smtp listener", "reason", err)
					tried := c.SMTP
					startFailed = &tried
				}
				if s != nil {
					svc, stopSMTP = s, s.Stop
					log.Info("smtp listener opened", "smtp", where)
				}
				return
			}
			opened, closed, err := svc.Reconfigure(c, retry)
			if len(opened) > 0 || len(closed) > 0 {
				log.Info("smtp listener follows the configuration", "opened", strings.Join(opened, ","), "closed", strings.Join(closed, ","))
			}
			if err != nil {
				log.Error("smtp listener", "reason", err)
			}
		}
	}
	opts.Stopping = func() {
		agentStopping()
		if stopSMTP != nil {
			stopSMTP()
		}
	}
	err := agent.Run(context.Background(), cfg, log, opts)
	if stopSMTP != nil {
		stopSMTP()
	}
	if errors.Is(err, agent.ErrHeld) {
		fail("agent", err)
		return sysexits.Config
	}
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
// outbox and listens, and keeps its watchdog fed when the unit sets
// WatchdogSec: at half the interval, as sd_watchdog_enabled(3) advises.
// Outside systemd both do nothing.
func agentReady() {
	daemon.SdNotify(false, daemon.SdNotifyReady+"\nMAINPID="+strconv.Itoa(os.Getpid()))
	if d, err := daemon.SdWatchdogEnabled(false); err == nil && d > 0 {
		go func() {
			for range time.Tick(d / 2) {
				daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			}
		}()
	}
}

// agentStopping tells systemd that an orderly shutdown has begun, so
// that a slow drain is not mistaken for a hang.
func agentStopping() { daemon.SdNotify(false, daemon.SdNotifyStopping) }

const flushUsage = `usage: homepost flush

Retries every deferred message now (sendmail -q). With an agent running,
tells it to and waits until it has (a change of config.toml that it is
letting settle is read first: exit 78 if the file still has an error);
otherwise delivers in the foreground,
and what is still deferred is then retried by a background delivery
until the queue is empty (unless deliver_without_agent = false: then
nothing retries it until an agent runs or the next flush, and in a
terminal flush says so). In a terminal it says in one line per message
what happened to it; elsewhere it writes the agent's key=value log lines.
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
	cfg, code, broken := loadQueueConfig("flush", "")
	if cfg == nil {
		return code
	}
	tty := termlog.IsTerminal(os.Stderr)
	st, running := agent.RunningStatus(cfg)
	wasHeld := running && st.Held != ""
	if werr := agent.Flush(context.Background(), cfg); !errors.Is(werr, agent.ErrNotRunning) {
		// It has tried: a script that flushes and then looks sees the
		// outcome. An agent that holds the queue is asked too: a file
		// fixed a moment ago is read once the change has settled, and
		// the pass that answers comes after that reading ("fix the
		// file; homepost flush" delivers).
		if st, ok := agent.RunningStatus(cfg); ok && st.Held != "" && (wasHeld || werr == nil) {
			fail("flush", fmt.Errorf("the agent (pid %d) holds the queue: %s", st.Pid, st.Held))
			return sysexits.Config
		}
		if wasHeld && tty {
			fmt.Fprintln(os.Stderr, "homepost: flush: the running agent has read the fixed configuration")
		}
		if errors.Is(werr, agent.ErrSmarthostBusy) {
			// It retried; the smarthost has not answered yet.
			if tty {
				fmt.Fprintln(os.Stderr, "homepost: flush: the running agent retried every deferred message; a delivery to the smarthost is still in progress (its log and mailq will tell how it went)")
			}
			return sysexits.OK
		}
		if werr == nil || errors.Is(werr, agent.ErrNoAnswer) {
			if tty {
				fmt.Fprintln(os.Stderr, "homepost: flush: the running agent retried every deferred message; its log says how it went")
			}
			return sysexits.OK
		}
		// Anything else: deliver here.
	}
	opts := agent.Options{Once: true, Flush: true, ConfigErr: broken}
	if !tty {
		code = startAgent(cfg, opts, newLogger())
	} else {
		h := termlog.New(os.Stderr, "homepost: flush: ")
		if !cfg.DeliverWithoutAgent {
			h.NoRetry()
		}
		code = startAgent(cfg, opts, slog.New(h))
		if h.Close() == 0 && code == sysexits.OK {
			fmt.Fprintln(os.Stderr, "homepost: flush: nothing to deliver")
		}
		// Nothing retries: no agent runs, and deliver_without_agent =
		// false starts no background delivery.
		if k := h.Deferred(); k > 0 && !cfg.DeliverWithoutAgent {
			if _, running := agent.RunningStatus(cfg); !running {
				fmt.Fprintf(os.Stderr, "homepost: flush: nothing retries the %d deferred recipient(s): no agent runs, and deliver_without_agent = false starts no background delivery; start homepost agent, or run homepost flush again\n", k)
			}
		}
	}
	// One try is not enough where no agent runs: what is still deferred
	// is retried by a background delivery until the queue is empty.
	if code == sysexits.OK && broken == nil && submit.WakeWaiting(cfg) && tty {
		fmt.Fprintf(os.Stderr, "homepost: flush: what is still deferred is retried by a background delivery (its log: %s)\n", cfg.LogPath())
	}
	return code
}

// eachError logs a record whose attribute is an error joined of several
// (errors.Join: each address of [smtp] listen that could not be opened,
// each queue file that could not be recycled) as one record per error:
// a key=value line holds one reason, which a reader or a grep takes
// whole, rather than several joined by a newline that the text format
// shows as a literal \n inside one quoted field. A single error whose
// text has newlines (one wrapping a joined one) has them replaced by
// "; ".
type eachError struct{ slog.Handler }

func (h eachError) Handle(ctx context.Context, r slog.Record) error {
	key, errs := "", []error(nil)
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok {
			if l := leaves(err); len(l) > 1 || strings.Contains(err.Error(), "\n") {
				key, errs = a.Key, l
				return false
			}
		}
		return true
	})
	if errs == nil {
		return h.Handler.Handle(ctx, r)
	}
	var first error
	for _, err := range errs {
		n := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				a.Value = slog.AnyValue(err)
				if strings.Contains(err.Error(), "\n") {
					a.Value = slog.StringValue(strings.ReplaceAll(err.Error(), "\n", "; "))
				}
			}
			n.AddAttrs(a)
			return true
		})
		if err := h.Handler.Handle(ctx, n); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (h eachError) WithAttrs(as []slog.Attr) slog.Handler {
	return eachError{h.Handler.WithAttrs(as)}
}

func (h eachError) WithGroup(name string) slog.Handler { return eachError{h.Handler.WithGroup(name)} }

// leaves flattens errors joined by errors.Join (and joins of joins).
func leaves(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, leaves(e)...)
	}
	return out
}
