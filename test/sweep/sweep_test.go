package sweep

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"homepost/test/testenv"
)

// swept are the system calls at which a delivery is killed: every call
// that writes data, makes it durable, or creates, renames, links or
// removes a name (Go on Linux removes with unlinkat and renames with
// renameat/renameat2; a smarthost's socket is written with write).
var swept = []string{"write", "pwrite64", "fsync", "fdatasync", "syncfs", "openat", "mkdirat", "renameat", "renameat2", "ftruncate", "linkat", "unlinkat"}

// maxPoints bounds one call's sweep: a delivery that never completes
// under it is a failure, not a hang.
const maxPoints = 2000

func msgs(prefix string, n int, rcpts []string, big map[int]int) []message {
	var out []message
	for i := range n {
		size := 300
		if s, ok := big[i]; ok {
			size = s
		}
		out = append(out, message{id: fmt.Sprintf("%s%d@sweep.test", prefix, i), rcpts: rcpts, size: size})
	}
	return out
}

// scenarios are the deliveries swept. Each is small enough that the
// whole sweep stays within CI's time, and each holds what makes its
// store hard: a Maildir or an mbox that does not exist yet, a message
// larger than the writer's buffers, a batch that shares one group
// commit, every target kind of a .forward at once, a smarthost.
func scenarios(t *testing.T) []*scenario {
	me := testenv.Login(t)
	return []*scenario{
		{
			name:   "maildir",
			stores: func(h string) []store { return []store{{"maildir", filepath.Join(h, "Maildir")}} },
			msgs:   msgs("md", 3, []string{me}, nil),
		},
		{
			name:   "mbox",
			config: func(string) string { return "store = \"mbox:~/mail/inbox\"\n" },
			stores: func(h string) []store { return []store{{"mbox", filepath.Join(h, "mail", "inbox")}} },
			msgs:   msgs("mb", 3, []string{me}, map[int]int{1: 150_000}),
		},
		{
			// A batch into an mbox, with a message larger than the
			// writer's buffer among them: every copy is appended before
			// any queue file is retired.
			name:   "batch",
			config: func(string) string { return "store = \"mbox:~/inbox\"\n" },
			stores: func(h string) []store { return []store{{"mbox", filepath.Join(h, "inbox")}} },
			msgs:   msgs("bt", 20, []string{me}, map[int]int{7: 120_000}),
		},
		{
			name: "forward",
			setup: func(h string) {
				script := filepath.Join(h, "keep.sh")
				dir := filepath.Join(h, "cmd")
				// The command keeps each copy it read to the end (a copy
				// cut off because its agent was killed is kept aside).
				os.WriteFile(script, []byte("#!/bin/sh\nd="+dir+"\nmkdir -p $d\nt=$d/tmp.$$\ncat > $t\n"+
					"if tail -n 1 $t | grep -q '^END-OF-MESSAGE '; then mv $t $d/msg.$$.$(date +%s%N); else mv $t $d/partial.$$; fi\n"), 0o755)
				fwd := filepath.Join(h, "fwd", "Maildir") + "/\n" + filepath.Join(h, "fwd.mbox") + "\n\"|" + script + "\"\n"
				os.WriteFile(filepath.Join(h, ".forward"), []byte(fwd), 0o600)
			},
			stores: func(h string) []store {
				return []store{{"maildir", filepath.Join(h, "fwd", "Maildir")}, {"mbox", filepath.Join(h, "fwd.mbox")}, {"dir", filepath.Join(h, "cmd")}}
			},
			msgs:      msgs("fw", 2, []string{me}, nil),
			cmdTarget: "|",
		},
		{
			name:   "relay",
			relay:  true,
			config: func(addr string) string { return fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", addr) },
			stores: func(string) []store { return nil },
			msgs:   msgs("rl", 3, []string{remote}, map[int]int{2: 70_000}),
		},
		{
			// A message the smarthost takes for one recipient and
			// refuses (550) for another, beside the user's copy: the
			// DSN is stored once and whole, in a Maildir (found again
			// by its name) and in an mbox (by its mark), whatever the
			// crash interrupts (the verdict journaled, the DSN stored,
			// the bounce recorded).
			name:   "bounce",
			relay:  true,
			config: func(addr string) string { return fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", addr) },
			stores: func(h string) []store { return []store{{"maildir", filepath.Join(h, "Maildir")}} },
			msgs:   msgs("bo", 2, []string{me, remote, refused}, nil),
		},
		{
			name:  "bounce-mbox",
			relay: true,
			config: func(addr string) string {
				return fmt.Sprintf("store = \"mbox:~/inbox\"\n[relay]\nurl = \"smtp://%s\"\n", addr)
			},
			stores: func(h string) []store { return []store{{"mbox", filepath.Join(h, "inbox")}} },
			msgs:   msgs("bm", 2, []string{me, remote, refused}, nil),
		},
		{
			// The daemon: a batch of two messages, each to the user
			// and to the smarthost. The local copies are stored in
			// the loop, the smarthost's go out from the worker once
			// they are durable, two transactions on one connection,
			// and the results are recorded when the loop takes them.
			name:   "daemon",
			relay:  true,
			daemon: true,
			config: func(addr string) string { return fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", addr) },
			stores: func(h string) []store { return []store{{"maildir", filepath.Join(h, "Maildir")}} },
			msgs:   msgs("dm", 2, []string{me, remote}, nil),
		},
		{
			// The daemon with a bounce: the smarthost refuses one
			// recipient; the local copy's result is recorded by the
			// worker before the smarthost gets anything (recordLocal),
			// the DSN stored by the loop when it takes the answer.
			name:   "daemon-bounce",
			relay:  true,
			daemon: true,
			config: func(addr string) string { return fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", addr) },
			stores: func(h string) []store { return []store{{"maildir", filepath.Join(h, "Maildir")}} },
			msgs:   msgs("db", 2, []string{me, remote, refused}, nil),
		},
	}
}

// TestCrashPointSweep kills "homepost agent --once" (the daemon,
// "homepost agent", for the daemon scenario) at every call of every
// swept system call, in turn, for each scenario; after each kill a
// clean "agent --once" recovers. Every message must then be stored exactly once and
// whole, commands and the smarthost must have had every message at
// least once and nothing again that the journal had recorded as done,
// and the outbox must be empty.
func TestCrashPointSweep(t *testing.T) {
	needKiller(t)
	needPython(t)
	for _, sc := range scenarios(t) {
		if testing.Short() && sc.name == "batch" {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.prepare(t)
			sweepEach(t, sc.name, func(t *testing.T, sys string) int { return sweepCall(t, sc, sys) })
		})
	}
}

// sweepEach runs sweep for every swept system call, in parallel, and
// logs the crash points each tried when they are all done.
func sweepEach(t *testing.T, label string, sweep func(t *testing.T, sys string) int) {
	var mu sync.Mutex
	per := map[string]int{}
	t.Cleanup(func() {
		total := 0
		var l []string
		for _, sys := range swept {
			total += per[sys]
			l = append(l, fmt.Sprintf("%s %d", sys, per[sys]))
		}
		t.Logf("sweep %s: %d crash points (%s)", label, total, strings.Join(l, ", "))
	})
	for _, sys := range swept {
		t.Run(sys, func(t *testing.T) {
			t.Parallel()
			n := sweep(t, sys)
			mu.Lock()
			per[sys] = n
			mu.Unlock()
		})
	}
}

// snapshot is what a crash left, read before the recovery runs.
type snapshot struct {
	done   map[string]bool // message ID → its journal says the command or smarthost had it
	copies map[string]int  // message ID → copies the command or smarthost had
}

// snapshot reads, for commands and the smarthost, which messages the
// journal says were done and how many copies were made.
func (w *world) snapshot() snapshot {
	s := snapshot{done: map[string]bool{}, copies: map[string]int{}}
	if !w.sc.relay && w.sc.cmdTarget == "" {
		return s
	}
	for _, m := range w.sc.msgs {
		name := w.sc.names[m.id]
		b, err := os.ReadFile(filepath.Join(w.e.Outbox("cur"), name+":2,"))
		if err != nil {
			if _, err := os.Stat(filepath.Join(w.e.Outbox("new"), name)); err != nil {
				s.done[m.msgID()] = true // released: every recipient done
			}
			continue
		}
		j := readJournal(b)
		if w.sc.relay {
			s.done[m.msgID()] = j.sent[m.remoteIdx()]
			continue
		}
		for idx, target := range j.targets {
			if strings.HasPrefix(target, w.sc.cmdTarget) && j.sent[idx] {
				s.done[m.msgID()] = true
			}
		}
	}
	s.copies = w.effects()
	return s
}

// effects counts the whole copies the command or smarthost has had.
func (w *world) effects() map[string]int {
	if w.sc.relay {
		n := map[string]int{}
		for _, got := range w.host.Got(remote) {
			for _, m := range w.sc.msgs {
				if strings.Contains(got, "Message-ID: "+m.msgID()) && strings.Contains(got, "END-OF-MESSAGE "+m.id) {
					n[m.msgID()]++
				}
			}
		}
		return n
	}
	if w.sc.cmdTarget != "" {
		return countWhole(w.sc.msgs, filepath.Join(w.e.Home, "cmd"))
	}
	return nil
}

// checkEffects: every message reached the command or smarthost, and
// none again whose journal said so at the crash.
func (w *world) checkEffects(before snapshot) []string {
	if !w.sc.relay && w.sc.cmdTarget == "" {
		return nil
	}
	var bad []string
	after := w.effects()
	for _, m := range w.sc.msgs {
		id := m.msgID()
		if after[id] < 1 {
			bad = append(bad, fmt.Sprintf("%s never reached the command or smarthost whole", id))
		}
		if before.done[id] && after[id] != before.copies[id] {
			bad = append(bad, fmt.Sprintf("%s had %d copies when the journal said it was done, %d after the recovery", id, before.copies[id], after[id]))
		}
	}
	return bad
}

// ahead is how many crash points of one system call run at once: the
// runs wait on fsync more than they use the CPU.
const ahead = 3

// point is one crash point's run and what was found after its recovery.
type point struct {
	w      *world
	n      int
	o      outcome
	label  string
	log    string   // the recovery's log
	bad    []string // what the checks found
	stores []store
	// acked are the messages the listener answered 250 (nil: the
	// messages were queued before the run, all must be stored).
	acked map[string]bool
}

// crash kills the delivery at the nth call of sys, recovers with a clean
// run, and checks what needs no reader: the outbox, commands and the
// smarthost. It runs beside other points: it reports, it does not fail.
func (p *point) crash(sys string) {
	w := p.w
	switch {
	case w.sc.run != nil:
		p.o = w.sc.run(w, sys, p.n)
	case w.sc.listener:
		p.o, p.acked = w.serve(sys, p.n)
	case w.sc.daemon:
		p.o = w.daemon(sys, p.n)
	default:
		p.o = w.kill(nil, sys, p.n, "homepost", "agent", "--once")
	}
	p.label = fmt.Sprintf("%s %s #%d", w.sc.name, sys, p.n)
	if p.o.err != nil {
		p.bad = append(p.bad, p.o.err.Error())
	}
	var before snapshot
	if p.o.killed {
		p.label += " (killed at " + p.o.site + ")"
	}
	// A listener stopped by SIGTERM leaves what it queued last for the
	// next agent: it is delivered here as after a kill.
	if p.o.killed || w.sc.listener || w.sc.always {
		w.waitOrphans()
		before = w.snapshot()
		var err error
		if w.sc.recover != nil {
			var bad []string
			p.log, bad = w.sc.recover(w)
			p.bad = append(p.bad, bad...)
		} else if p.log, err = w.once(); err != nil {
			p.bad = append(p.bad, "recovery: "+err.Error())
		}
		w.waitOrphans()
	}
	if l := w.leftovers(); l != "" {
		p.bad = append(p.bad, "left after the recovery: "+l)
	}
	p.bad = append(p.bad, w.checkEffects(before)...)
	p.stores = w.stores()
}

// sweepCall sweeps one system call: kill at its 1st call, recover,
// check; then at its 2nd; until a run completes without a kill. It
// returns the number of crash points tried.
func sweepCall(t *testing.T, sc *scenario, sys string) int {
	var items []readItem
	var kinds [][]store
	var acked []map[string]bool
	points, failures := 0, 0
	fail := func(format string, a ...any) {
		failures++
		if failures <= 10 {
			t.Errorf(format, a...)
		}
	}
	calls, complete := 0, false
	// The first round is one run: a system call that the delivery
	// never makes costs one run, not ahead of them.
	for n, size := 1, 1; !complete; n, size = n+size, ahead {
		if n > maxPoints {
			t.Fatalf("%s %s: still killed after %d calls", sc.name, sys, n)
		}
		ps := make([]*point, size)
		for i := range ps {
			ps[i] = &point{w: sc.newWorld(t), n: n + i}
		}
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Go(func() { p.crash(sys) })
		}
		wg.Wait()
		for _, p := range ps {
			if len(p.bad) > 0 {
				fail("%s:\n\t%s\nrecovery log:\n%s", p.label, strings.Join(p.bad, "\n\t"), p.log)
			}
			rs := make([]readStore, len(p.stores))
			for i, s := range p.stores {
				rs[i] = readStore{s.kind, s.path}
			}
			items = append(items, readItem{Label: p.label + "\nrecovery log:\n" + p.log, Stores: rs, Expect: expectOf(sc.msgs)})
			kinds = append(kinds, p.stores)
			acked = append(acked, p.acked)
			if !p.o.killed {
				// The first run that was not killed: each of its
				// calls must have been a crash point.
				calls, complete = p.o.calls, true
				break
			}
			points++
		}
	}
	if points < calls {
		t.Errorf("%s %s: %d crash points tried, but a whole run makes %d calls", sc.name, sys, points, calls)
	}
	if len(items) > 0 && len(items[0].Stores) > 0 {
		for i, r := range readStores(t, items) {
			var bad []string
			for k, s := range kinds[i] {
				one := readResult{Label: r.Label, Stores: r.Stores[k : k+1]}
				switch {
				case s.kind == "dir":
					bad = append(bad, atLeastOnce(sc.msgs, one)...)
				case acked[i] != nil:
					bad = append(bad, onceIfAcked(sc.msgs, acked[i], one)...)
				default:
					bad = append(bad, exactlyOnce(sc.msgs, one)...)
				}
			}
			if len(bad) > 0 {
				fail("%s:\n\t%s", r.Label, strings.Join(bad, "\n\t"))
			}
		}
	}
	if failures > 10 {
		t.Errorf("%s %s: %d failures in all, the first 10 shown", sc.name, sys, failures)
	}
	return points
}

// atLeastOnce lists the messages a command never had whole.
func atLeastOnce(msgs []message, r readResult) []string {
	var bad []string
	for _, st := range r.Stores {
		bad = append(bad, prefixAll(st.Path+": ", st.Errors)...)
		for _, m := range msgs {
			if st.Whole[m.msgID()] < 1 {
				bad = append(bad, fmt.Sprintf("%s: %s never stored whole", st.Path, m.msgID()))
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// TestSendmailSweep kills sendmail at every call of every swept system
// call while it queues a message: into a spare queue file left by an
// earlier delivery, and into an outbox that does not exist yet. A
// killed sendmail leaves nothing queued or the whole message, never a
// part; one that exits 0 has queued it; and the next sendmail queues
// its own message whatever the crash left. A clean agent then delivers
// what was queued, once. Both programs are swept: the small sendmail
// that cron and scripts run, and "homepost sendmail -t -oi" (with
// -short, only into a fresh outbox).
func TestSendmailSweep(t *testing.T) {
	needKiller(t)
	needPython(t)
	me := testenv.Login(t)
	m := message{id: "sm@sweep.test", rcpts: []string{me}, size: 100_000}
	next := message{id: "sm-next@sweep.test", rcpts: []string{me}, size: 500}
	spare := func(h string) {
		// A spare that still holds an old message's bytes, as a
		// crash can leave it: sendmail takes it and empties it.
		tmp := filepath.Join(h, ".local", "state", "homepost", "outbox", "tmp")
		os.MkdirAll(tmp, 0o700)
		os.WriteFile(filepath.Join(tmp, "spare.0"), []byte(strings.Repeat("old message\n", 5000)), 0o600)
	}
	for _, prog := range []submitter{
		{label: "sendmail", argv: []string{"sendmail", "-i", me}},
		{label: "homepost sendmail", argv: []string{"homepost", "sendmail", "-t", "-oi"}, to: me},
	} {
		for _, sc := range []*scenario{
			{name: "spare", setup: spare},
			{name: "fresh", noOutbox: true},
		} {
			if testing.Short() && prog.to != "" && sc.name == "spare" {
				continue
			}
			sc.stores = func(h string) []store { return []store{{"maildir", filepath.Join(h, "Maildir")}} }
			sc.msgs = []message{m, next}
			t.Run(strings.ReplaceAll(prog.label, " ", "-")+"/"+sc.name, func(t *testing.T) {
				sweepEach(t, prog.label+" ("+sc.name+")", func(t *testing.T, sys string) int {
					return sweepSendmail(t, sc, sys, m, next, prog)
				})
			})
		}
	}
}

// submitter is a program that queues a message from its standard input.
type submitter struct {
	label string
	argv  []string // the binary's program name and its arguments
	to    string   // a To: field to add, for -t (the recipients are read from the header)
}

// input is what the submitter reads for m.
func (s submitter) input(m message) []byte {
	if s.to != "" {
		return []byte("To: " + s.to + "\n" + m.text())
	}
	return []byte(m.text())
}

func sweepSendmail(t *testing.T, sc *scenario, sys string, m, next message, prog submitter) int {
	var items []readItem
	var acked []bool
	points := 0
	for n := 1; ; n++ {
		if n > maxPoints {
			t.Fatalf("%s %s: still killed after %d calls", prog.label, sys, n)
		}
		w := sc.newWorld(t)
		o := w.kill(prog.input(m), sys, n, prog.argv[0], prog.argv[1:]...)
		label := fmt.Sprintf("%s (%s) %s #%d", prog.label, sc.name, sys, n)
		if o.err != nil {
			t.Errorf("%s: %v", label, o.err)
		}
		if o.killed {
			points++
			label += " (killed at " + o.site + ")"
		}
		if q := testenv.Files(w.e.Outbox("new")); len(q) > 1 || (!o.killed && len(q) != 1) {
			t.Errorf("%s: outbox/new holds %v", label, q)
		}
		if _, stderr, code := w.e.Run(prog.input(next), prog.argv[0], prog.argv[1:]...); code != 0 {
			t.Errorf("%s: the next sendmail: exit %d: %s", label, code, stderr)
		}
		log, err := w.once()
		if err != nil {
			t.Errorf("%s: delivery: %v", label, err)
		}
		if l := w.leftovers(); l != "" {
			t.Errorf("%s: the outbox still holds %s after a delivery\n%s", label, l, log)
		}
		items = append(items, readItem{Label: label + "\nagent log:\n" + log,
			Stores: []readStore{{"maildir", w.e.Path("Maildir")}}, Expect: expectOf(sc.msgs)})
		acked = append(acked, !o.killed)
		if !o.killed {
			break
		}
	}
	for i, r := range readStores(t, items) {
		st := r.Stores[0]
		whole, torn := st.Whole[m.msgID()], st.Torn[m.msgID()]
		if len(st.Errors) > 0 || torn > 0 || whole > 1 || (acked[i] && whole != 1) || st.Whole[next.msgID()] != 1 || st.Torn[next.msgID()] != 0 {
			t.Errorf("%s: %d whole copies, %d cut off, the next message %d times, errors %q (sendmail exited 0: %v)",
				r.Label, whole, torn, st.Whole[next.msgID()], st.Errors, acked[i])
		}
	}
	return points
}
