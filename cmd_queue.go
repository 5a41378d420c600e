package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"homepost/agent"
	"homepost/outbox"
	"homepost/submit"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "queue",
		summary: "delete, hold or release queued messages (postsuper -d/-h/-H)",
		run:     runQueue,
	})
}

const queueUsage = `usage: homepost queue delete ID... | ALL
       homepost queue hold ID... | ALL
       homepost queue release ID... | ALL

Acts on messages in the user's own outbox, by the queue IDs that mailq
shows (a trailing '*' or '!' is ignored), like Postfix's postsuper:

  delete   remove the messages: they are neither delivered nor bounced
  hold     keep the messages in the queue without delivering them; one
           being sent to the smarthost is held when that delivery ends
           (unless it delivers or bounces it), one waiting behind it at
           once
  release  let held messages be delivered again

postsuper's -d, -h and -H are taken for delete, hold and release (-h
alone is this help, and so are -h and --help after an action). ALL means
every message in the queue; '-' reads IDs from standard input, one per
line. A running agent is told at once, and logs one line per message
(id=ID status=deleted|held|released); with no agent running, the next
one to start logs them. Exits 66 when an ID is not in the queue (the
others are still acted on). See homepost(1).
`

func runQueue(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, queueUsage)
		return sysexits.Usage
	}
	if args[0] == "-h" && len(args) == 1 || args[0] == "--help" || args[0] == "help" {
		fmt.Print(queueUsage)
		return sysexits.OK
	}
	verb, ids := args[0], args[1:]
	// postsuper's options, for the hands that know them.
	if v, ok := map[string]string{"-d": "delete", "-h": "hold", "-H": "release"}[verb]; ok {
		verb = v
	}
	switch verb {
	case "delete", "hold", "release":
	default:
		fail("queue", fmt.Errorf("unknown action %q (use delete, hold or release)", verb))
		return sysexits.Usage
	}
	// No queue ID starts with '-': the help, not an ID to look up.
	if slices.Contains(ids, "--help") || slices.Contains(ids, "-h") {
		fmt.Print(queueUsage)
		return sysexits.OK
	}
	if len(ids) == 0 {
		fail("queue "+verb, errors.New("no queue ID given (or ALL)"))
		return sysexits.Usage
	}
	cfg, code, _ := loadQueueConfig("queue", "")
	if cfg == nil {
		return code
	}
	box := outbox.Dir(cfg.Outbox)
	act := map[string]func(string) (bool, error){"delete": box.Delete, "hold": box.Hold, "release": box.Release}[verb]
	paths, code := resolveQueueIDs(box, verb, ids)
	// A message whose copy is out to the smarthost is deleted all the
	// same, but that copy may still be taken: say so, here and in the
	// log, rather than a plain "deleted".
	// A message that a delivery has (being sent to the smarthost, or
	// waiting behind that delivery) is held all the same, without
	// waiting for it: the hold is asked for, and takes effect as the
	// delivery lets the message go (outbox.AskHold); say when.
	var sending agent.Sending
	if verb == "delete" || verb == "hold" {
		sending, _ = agent.RunningSending(cfg)
	}
	status := map[string]string{"delete": "deleted", "hold": "held", "release": "released"}[verb]
	var report stdout
	var acts []agent.QueueAction
	for _, p := range paths {
		do := act
		if verb == "hold" && sending.Has(outbox.ID(filepath.Base(p))) {
			do = box.HoldBusy
		}
		ok, err := do(p)
		if errors.Is(err, outbox.ErrHoldAsked) {
			qa := agent.QueueAction{ID: outbox.ID(filepath.Base(p)), Status: status}
			_, out := sending.Rcpts[qa.ID]
			_, waits := sending.Waiting[qa.ID]
			switch {
			case out:
				qa.Note = fmt.Sprintf("when the delivery in progress to %s ends, unless it delivers or bounces the message", sending.Where)
				report.printf("%s: will be held %s\n", qa.ID, qa.Note)
			case waits && sending.Where != "":
				// Behind the delivery in progress: nothing of it
				// will be sent; held now.
				qa.Note = fmt.Sprintf("it waited for the delivery in progress to %s, and is not sent", sending.Where)
			case waits:
			default:
				qa.Note = "when the delivery in progress ends, unless it delivers or bounces the message"
				report.printf("%s: will be held %s\n", qa.ID, qa.Note)
			}
			acts = append(acts, qa)
			continue
		}
		if err != nil {
			fail("queue "+verb, err)
			code = sysexits.TempFail
			continue
		}
		if !ok {
			continue
		}
		qa := agent.QueueAction{ID: outbox.ID(filepath.Base(p)), Status: status}
		if verb == "delete" {
			// A hold asked for it goes with it.
			box.DropAskedHold(qa.ID)
		}
		if _, out := sending.Rcpts[qa.ID]; out && verb == "delete" {
			qa.Note = fmt.Sprintf("a copy being sent to %s may still arrive", sending.Where)
			report.printf("%s: deleted; %s\n", qa.ID, qa.Note)
		}
		acts = append(acts, qa)
	}
	done := len(acts)
	if done > 0 {
		// One line per message in the agent's log, which a running
		// agent writes at once (it is asked for a pass, not a reload:
		// a held message is left alone, a released one came back
		// through new/), and otherwise the next agent when it starts.
		if err := agent.NoteQueueActions(cfg, acts, time.Now()); err != nil {
			fail("queue "+verb, err)
		}
		if verb == "release" {
			// Where no agent runs, released mail goes out all the
			// same, as newly queued mail does.
			submit.Wake(cfg)
		}
	}
	what := map[string]string{"delete": "Deleted", "hold": "Placed on hold", "release": "Released from hold"}[verb]
	plural := "s"
	if done == 1 {
		plural = ""
	}
	report.printf("%s: %d message%s\n", what, done, plural)
	if report.err != nil {
		// What was done stands; only its report is lost.
		after := ""
		if done > 0 {
			after = fmt.Sprintf(" (%d message%s %s all the same)", done, plural, status)
		}
		c := outputFailed("queue "+verb, report.err, after)
		if code == sysexits.OK {
			code = c
		}
	}
	return code
}

// stdout writes to the standard output and keeps the first error, for
// the command to fail with (outputFailed) once it has done its work.
type stdout struct{ err error }

func (o *stdout) printf(format string, a ...any) {
	if _, err := fmt.Printf(format, a...); err != nil && o.err == nil {
		o.err = err
	}
}

// resolve turns the arguments into queue file paths. Unknown IDs are
// reported and make the exit code 66; the rest still go ahead.
func resolveQueueIDs(box outbox.Dir, verb string, args []string) ([]string, int) {
	code := sysexits.OK
	var ids []string
	for _, a := range args {
		switch a {
		case "ALL":
			paths, err := box.All()
			if err != nil {
				fail("queue "+verb, err)
				code = sysexits.TempFail
			}
			return paths, code
		case "-":
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				if id := strings.TrimSpace(sc.Text()); id != "" {
					ids = append(ids, id)
				}
			}
		default:
			ids = append(ids, a)
		}
	}
	var paths []string
	for _, arg := range ids {
		id, err := outbox.ParseID(arg)
		if err != nil {
			fail("queue "+verb, err)
			code = sysexits.Usage
			continue
		}
		p, err := box.Find(id)
		if err != nil {
			fail("queue "+verb, err)
			if code == sysexits.OK {
				code = sysexits.NoInput
			}
			continue
		}
		paths = append(paths, p)
	}
	return paths, code
}
