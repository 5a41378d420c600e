package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"homepost/agent"
	"homepost/config"
	"homepost/doctor"
	"homepost/outbox"
	"homepost/submit"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "mailq",
		aliases: []string{"mailq"},
		summary: "list the queue as Postfix does (--json: one object per message)",
		run:     runMailq,
	})
}

const mailqUsage = `usage: mailq [--json | -j] [-v] [-bp]

Lists the messages waiting in the outbox, in Postfix's format: queue ID
('*' being delivered, '!' held), size, arrival time, sender, and each
recipient still to do under the reason it waits: those of a message
held by homepost queue hold under "(held by homepost queue hold until
homepost queue release ID)", not its last attempt's reason; while the
agent's delivery to the smarthost is out, its recipients wait "(being
sent to HOST:PORT since TIME)", and those of its deliveries queued
behind it "(waiting for the delivery to HOST:PORT in progress since
TIME)"; a message held while it is being sent (homepost queue hold),
"(being sent to HOST:PORT since TIME; held when this delivery ends,
unless it delivers or bounces the message)".
With --json (or -j), one JSON object per message per line, as
postqueue -j prints; -v and -bp are accepted and ignored. Warns on
standard error when the configuration has an error (mail is queued,
and held until it is fixed: its recipients are listed under "(held:
FILE:LINE: ...)", the delay_reason of --json) and when no agent is
running; it then starts the background delivery for the mail that
waits. See mailq(1).
`

func runMailq(args []string) int {
	asJSON := false
	for i, a := range args {
		switch a {
		case "--":
			// The end of the options; mailq takes no operand.
			if i+1 < len(args) {
				fail("mailq", fmt.Errorf("unexpected argument %s", args[i+1]))
				return sysexits.Usage
			}
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
	cfg, code, broken := loadQueueConfig("mailq", "")
	if cfg == nil {
		return code
	}
	entries, err := outbox.Dir(cfg.Outbox).List()
	if err != nil && !os.IsNotExist(err) {
		fail("mailq", err)
		return sysexits.TempFail
	}
	markQueueHeld(entries)
	if held := mailqWarnings(cfg, broken, len(entries) > 0); held != "" {
		markHeld(entries, held)
	}
	if s, ok := agent.RunningSending(cfg); ok {
		// As long as the smarthost takes (up to command_timeout for a
		// greeting that does not come), say so rather than nothing.
		wait := "waiting for the smarthost"
		if s.Rcpts != nil {
			since := sinceText(s.Since, time.Now())
			// A message held while it is being sent (homepost queue
			// hold) is held as that delivery ends, unless it delivers
			// or bounces it.
			asked := map[string][]int{}
			queued := false
			for _, e := range entries {
				if idx, ok := s.Rcpts[e.ID]; ok {
					queued = true
					if e.HoldAsked {
						asked[e.ID] = idx
					}
				}
			}
			outbox.MarkSending(entries, s.Rcpts, fmt.Sprintf("being sent to %s since %s", s.Where, since))
			outbox.MarkSending(entries, asked, fmt.Sprintf("being sent to %s since %s; held when this delivery ends, unless it delivers or bounces the message", s.Where, since))
			wait = fmt.Sprintf("waiting for the delivery to %s in progress since %s", s.Where, since)
			if !queued {
				// What is out was deleted from the queue (homepost
				// queue delete): its copy may still be taken, and the
				// next delivery waits for that answer.
				wait = fmt.Sprintf("waiting for the delivery to %s in progress since %s, of a message deleted from the queue whose copy may still arrive", s.Where, since)
			}
		}
		// Held while it waited (homepost queue hold, asked for of a
		// message a delivery has, or recorded at once in one of the
		// backlog, whose file is closed): nothing of it is sent, and
		// it is listed held, not waiting.
		waiting := map[string][]int{}
		for _, e := range entries {
			if idx, ok := s.Waiting[e.ID]; ok && !e.HoldAsked && !e.Held {
				waiting[e.ID] = idx
			}
		}
		outbox.MarkSending(entries, waiting, wait)
	}
	write := outbox.WritePostfix
	if asJSON {
		write = outbox.WriteJSON
	}
	// A listing that did not reach its reader (a full disk, a closed
	// file) fails as Postfix's postqueue does, with EX_IOERR: a script
	// that reads it must not take a cut listing for the queue.
	if err := write(os.Stdout, entries); err != nil {
		return outputFailed("mailq", err, "")
	}
	return sysexits.OK
}

// outputFailed says on standard error that the standard output could
// not be written (then what else to know, after), and returns EX_IOERR
// (74). A reader that goes away ("mailq | head -1") ends the command
// by SIGPIPE before any error is returned, as it ends Postfix's.
func outputFailed(what string, err error, after string) int {
	// "write /dev/stdout: ..." names a file the user did not give.
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	fail(what, fmt.Errorf("writing to standard output: %w%s", err, after))
	return sysexits.IOErr
}

// mailqWarnings says on stderr why queued mail does not move, in words
// that work on this machine: a configuration that does not load (the
// agent holds the queue, or keeps the configuration it read before), or
// no agent, in which case the background delivery is started. It
// returns why delivery is held, for the listing: the running agent's
// reason, or the file's error when no agent runs that delivers with a
// configuration read before; "" when nothing holds the queue.
func mailqWarnings(cfg *config.Config, broken error, queued bool) (held string) {
	if dir, k := submit.Stranded(cfg); k > 0 {
		if how, ok := agent.PendingMove(cfg, dir); ok {
			fmt.Fprintf(os.Stderr, "homepost: mailq: %d message(s) wait in %s, the former outbox: %s\n", k, dir, how)
		} else {
			fmt.Fprintf(os.Stderr, "homepost: mailq: warning: %d message(s) wait in %s, which is no longer the outbox: nothing delivers them; %s\n", k, dir, submit.StrandedAdvice(dir, cfg.Outbox))
		}
	}
	if dir, k := submit.SetAside(cfg); k > 0 {
		fmt.Fprintf(os.Stderr, "homepost: mailq: warning: %d queue file(s) set aside in %s: %s\n", k, dir, submit.SetAsideAdvice(dir, cfg.Outbox))
	}
	st, running := agent.RunningStatus(cfg)
	other := ""
	if broken != nil && running {
		other = doctor.OtherConfig(cfg, st.Pid)
	}
	switch {
	case running && st.Held != "":
		held = st.Held
	case broken != nil && !running:
		held = broken.Error()
	}
	switch {
	case other != "" && st.Held == "":
		fmt.Fprintf(os.Stderr, "homepost: mailq: warning: the running agent (pid %d) reads another configuration file, %s, and delivers as that file says\n", st.Pid, other)
	case other != "":
		fmt.Fprintf(os.Stderr, "homepost: mailq: warning: the running agent (pid %d) reads another configuration file, %s, which has an error too: %s\n", st.Pid, other, st.Held)
	case broken != nil && running && st.Held == "":
		fmt.Fprintf(os.Stderr, "homepost: mailq: warning: the running agent (pid %d) keeps the configuration it read before; fix the file before it restarts\n", st.Pid)
	case broken != nil:
		fmt.Fprintln(os.Stderr, "homepost: mailq: warning: mail is queued but not delivered until the configuration is fixed")
	case running && st.Held != "":
		fmt.Fprintf(os.Stderr, "homepost: mailq: warning: the agent (pid %d) holds the queue: %s\n", st.Pid, st.Held)
	case running || !queued:
	case !submit.Waiting(cfg):
		// Only held mail: nothing waits for an agent.
	case submit.WakeWaiting(cfg):
		fmt.Fprintf(os.Stderr, "homepost: mailq: no agent was running: started a background delivery (its log: %s); %s\n", cfg.LogPath(), doctor.AgentAdvice(cfg))
	default:
		fmt.Fprintf(os.Stderr, "homepost: mailq: warning: no agent is running; 'homepost flush' delivers now; %s\n", doctor.AgentAdvice(cfg))
	}
	return held
}

// markQueueHeld gives every recipient of a message held by "homepost
// queue hold" ('!') the reason "held by homepost queue hold until
// homepost queue release ID", on standard output and in --json's
// delay_reason: an earlier attempt's reason is not why it waits now,
// and no retry comes until it is released (Postfix lists a message on
// hold without a retry reason). It does not begin "held: ", the text of
// mail that waits for the configuration to be fixed (markHeld). A hold
// asked for a message being sent is said so by the caller, over this.
// A bounced recipient's verdict stands.
func markQueueHeld(entries []outbox.Entry) {
	for k := range entries {
		e := &entries[k]
		if !e.Held || e.Err != nil {
			continue
		}
		why := fmt.Sprintf("held by homepost queue hold until homepost queue release %s", e.ID)
		for n := range e.Rcpts {
			if e.Rcpts[n].Status != outbox.Bouncing {
				e.Rcpts[n].Reason = why
			}
		}
	}
}

// markHeld gives every recipient of the messages that wait for the
// configuration to be fixed the reason, "held: FILE:LINE: ...", on
// standard output and in --json's delay_reason, where a script looks,
// as Postfix lists a deferred message under its reason; an earlier
// attempt's reason is not why it waits now. Messages held by "homepost
// queue hold" ('!') are listed as such (markQueueHeld), and a bounced
// recipient's verdict stands.
func markHeld(entries []outbox.Entry, why string) {
	why = "held: " + strings.ReplaceAll(why, "\n", "; ")
	for k := range entries {
		e := &entries[k]
		if e.Held || e.Err != nil {
			continue
		}
		for n := range e.Rcpts {
			if e.Rcpts[n].Status != outbox.Bouncing {
				e.Rcpts[n].Reason = why
			}
		}
	}
}

// sinceText is a time of today as 15:04:05, of another day with the
// date before it, in local time.
func sinceText(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("Jan _2 15:04:05")
}
