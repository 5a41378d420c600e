package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/outbox"
	"homepost/test/testenv"
)

// TestAskedHoldSweep sweeps "homepost queue hold" of mail that the
// running agent is busy with: one message out to the smarthost, whose
// answer to the end of its data the smarthost holds back, and one
// queued behind that delivery. The hold cannot take their locks; it
// asks for their hold instead, by a file in outbox/hold/ made durable
// before it answers (outbox.Dir.AskHold), and the agent records the
// hold as it lets each message go: the one waiting at once, nothing of
// it sent; the one out when its delivery ends, unless it delivered it.
//
// Four sweeps:
//
//   - "queue hold" kills the hold at every call from its first touch of
//     outbox/hold on (the killer counts once the directory exists),
//     while the agent runs on; the smarthost then defers the message
//     it had (451);
//   - "agent, deferred" and "agent, delivered" kill the agent at every
//     call from just before the hold (which then completes) until it
//     has taken both requests and is stopped: the smarthost defers the
//     message it had, which is then held with its result, or takes it,
//     which then holds nothing;
//   - "agent at start" (not with -short) kills "agent --once" started
//     on what a crash of that agent left: both messages queued and
//     their requests, and one for a message no longer queued. It
//     records both holds as it takes the messages up, before it sends
//     anything, and drops the stale request.
//
// After each run the agent starts again ("homepost flush", which also
// retries what was deferred), and then every message must have gone to
// the smarthost or be held in outbox/cur, none lost; no request may be
// left in outbox/hold; and where the hold exited 0, neither message
// may have been sent but the one the smarthost took before the hold
// took effect. A message queued next is then delivered, not held by a
// request left behind, and "queue release ALL" delivers the held mail:
// each message once (the one out to the smarthost twice at most, where
// the agent was killed before it recorded the smarthost's answer: the
// transaction in flight is sent again, as documented).
func TestAskedHoldSweep(t *testing.T) {
	needKiller(t)
	for _, ah := range []*askedHold{
		{name: "queue hold", killHold: true},
		{name: "agent, deferred"},
		{name: "agent, delivered", accept: true},
		{name: "agent at start", atStart: true},
	} {
		if testing.Short() && ah.atStart {
			continue
		}
		t.Run(strings.NewReplacer(" ", "-", ",", "").Replace(ah.name), func(t *testing.T) {
			t.Parallel()
			sc := ah.scenario(t)
			sweepEach(t, "asked hold: "+ah.name, func(t *testing.T, sys string) int { return sweepCall(t, sc, sys) })
		})
	}
}

// askedHold is one sweep of a hold asked for: its messages, and which
// process is killed.
type askedHold struct {
	name     string
	killHold bool // the hold is killed, not the agent
	// atStart: the requests are there as the agent starts (a crash
	// cut the delivery that had the messages short).
	atStart bool
	accept  bool // the smarthost takes the message it held back (else 451)
	sc      *scenario
	files   map[string][]byte // queue file name → its bytes
	out     message           // out to the smarthost when the hold comes
	waiting message           // queued behind that delivery
}

// scenario queues the two messages once, for every run to put into the
// outbox while the agent runs (newWorld leaves it empty).
func (ah *askedHold) scenario(t *testing.T) *scenario {
	sc := &scenario{
		name:   "asked hold (" + ah.name + ")",
		relay:  true,
		config: func(addr string) string { return fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", addr) },
		stores: func(string) []store { return nil },
		msgs:   msgs("ask", 2, []string{remote}, nil),
		always: true,
	}
	sc.prepare(t)
	ah.sc, ah.files, sc.queue = sc, sc.queue, nil
	ah.out, ah.waiting = sc.msgs[0], sc.msgs[1]
	sc.run, sc.recover = ah.run, ah.recover
	return sc
}

// put queues m in the running agent's outbox, whole, by a rename from
// tmp/.
func (ah *askedHold) put(w *world, m message) error {
	name := ah.sc.names[m.id]
	tmp := filepath.Join(w.e.Outbox("tmp"), name)
	if err := os.WriteFile(tmp, ah.files[name], 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(w.e.Outbox("new"), name))
}

func (ah *askedHold) id(m message) string { return outbox.ID(ah.sc.names[m.id]) }

// gate holds back the smarthost's answer to the end of a message's data
// the first time it comes, until opened: then it answers 250, or 451.
type gate struct {
	arrived, opened chan struct{}
	first, open     sync.Once
}

func holdBack(h *testenv.Smarthost, m message, accept bool) *gate {
	g := &gate{arrived: make(chan struct{}), opened: make(chan struct{})}
	h.OnData(func(b []byte) error {
		if !bytes.Contains(b, []byte("Message-ID: "+m.msgID()+"\r\n")) {
			return nil
		}
		first := false
		g.first.Do(func() { first = true })
		if !first {
			return nil
		}
		close(g.arrived)
		select {
		case <-g.opened:
		case <-time.After(daemonDeadline):
		}
		if accept {
			return nil
		}
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	})
	return g
}

func (g *gate) release() { g.open.Do(func() { close(g.opened) }) }

// heldMark is the file in the HOME that says, for the recovery, that
// the hold exited 0: both messages are held, or the one out delivered.
const heldMark = ".held"

// run starts the agent, under the killer unless the hold is killed,
// and drives the run (drive), the hold under the killer when it is the
// one killed. The agent's killer counts from just before the hold.
func (ah *askedHold) run(w *world, sys string, n int) outcome {
	if ah.atStart {
		return ah.start(w, sys, n)
	}
	exited := make(chan outcome, 1)
	if ah.killHold {
		c := w.e.Cmd(nil, "homepost", "agent")
		var logb bytes.Buffer
		c.Stderr = &logb
		if err := c.Start(); err != nil {
			return outcome{err: err}
		}
		go func() {
			o := outcome{}
			if err := c.Wait(); err != nil {
				o.err = fmt.Errorf("agent: %v: %s", err, logb.String())
			}
			exited <- o
		}()
		var held outcome
		o := ah.drive(w, func() { c.Process.Signal(syscall.SIGTERM) }, exited, func(args []string) outcome {
			held = w.withVars(armEnv+"="+w.e.Outbox("hold"), func() outcome { return w.kill(nil, sys, n, "homepost", args...) })
			return held
		})
		if o.err != nil {
			held.err = errors.Join(held.err, fmt.Errorf("the agent: %w", o.err))
		}
		return held
	}
	arm := filepath.Join(w.e.Home, ".armed")
	term, wait := w.startKillWith(armEnv+"="+arm, sys, n, "homepost", "agent")
	go func() { exited <- wait() }()
	return ah.drive(w, term, exited, func(args []string) outcome {
		if err := os.WriteFile(arm, nil, 0o600); err != nil {
			return outcome{err: err}
		}
		return w.runHold(args)
	})
}

// start is the run of atStart: the message that was out is in cur/,
// the one that waited in new/, a request for the hold of each is in
// outbox/hold, and one for a message no longer queued; "agent --once"
// runs under the killer, which counts once the agent has made its
// status file. It must record both holds before it sends anything,
// and leave no request.
func (ah *askedHold) start(w *world, sys string, n int) outcome {
	if err := ah.leftByCrash(w); err != nil {
		return outcome{err: err}
	}
	// Counted once the agent has said it runs (agent.status, made
	// after its lock, just before it looks at the outbox): what it
	// does before changes no mail.
	status := w.e.Path(".local", "state", "homepost", "agent.status")
	o := w.withVars(armEnv+"="+status, func() outcome { return w.kill(nil, sys, n, "homepost", "agent", "--once") })
	if o.err == nil && !o.killed {
		if bad := ah.check(w); len(bad) > 0 {
			o.err = errors.New(strings.Join(bad, "\n\t"))
		}
	}
	return o
}

// leftByCrash makes what the start of atStart finds (see start), and
// the mark that the hold exited 0.
func (ah *askedHold) leftByCrash(w *world) error {
	if err := ah.put(w, ah.waiting); err != nil {
		return err
	}
	name := ah.sc.names[ah.out.id]
	if err := os.WriteFile(filepath.Join(w.e.Outbox("cur"), name+":2,"), ah.files[name], 0o600); err != nil {
		return err
	}
	box := outbox.Dir(w.e.Outbox(""))
	for _, id := range []string{ah.id(ah.out), ah.id(ah.waiting), "661D000000000000"} {
		if err := box.AskHold(id); err != nil {
			return err
		}
	}
	return os.WriteFile(w.e.Path(heldMark), []byte("exit 0\n"), 0o600)
}

// runHold runs the hold as a user does.
func (w *world) runHold(args []string) outcome {
	out, stderr, code := w.e.Run(nil, "homepost", args...)
	if code != 0 {
		return outcome{err: fmt.Errorf("queue hold: exit %d: %s%s", code, out, stderr)}
	}
	return outcome{}
}

// withVars runs f with v added to the world's environment.
func (w *world) withVars(v string, f func() outcome) outcome {
	vars := w.e.Vars
	w.e.Vars = append(slices.Clip(vars), v)
	defer func() { w.e.Vars = vars }()
	return f()
}

// startKillWith is startKill with v added to the program's environment.
func (w *world) startKillWith(v string, sys string, n int, name string, args ...string) (term func(), wait func() outcome) {
	w.withVars(v, func() outcome {
		term, wait = w.startKill(nil, sys, n, name, args...)
		return outcome{}
	})
	return term, wait
}

// drive is one run with the agent started (term stops it, exited has
// its outcome): it queues the first message and waits until the
// smarthost has its data, queues the second and waits until it waits
// behind that delivery, then asks for the hold of both (hold), lets the
// smarthost answer, waits until the agent has let both go (each gone,
// held, or deferred; no request left) and stops it with SIGTERM. It
// returns the agent's outcome, with what the hold found wrong.
func (ah *askedHold) drive(w *world, term func(), exited chan outcome, hold func(args []string) outcome) outcome {
	g := holdBack(w.host, ah.out, ah.accept)
	defer g.release()
	var o outcome
	// until waits for cond; false when the agent exited first or the
	// deadline passed, with the agent's outcome in o.
	until := func(cond func() bool, what string) bool {
		deadline := time.Now().Add(daemonDeadline)
		for !cond() {
			select {
			case o = <-exited:
				if o.err == nil && !o.killed {
					o.err = fmt.Errorf("the agent exited before %s: %s", what, o.stderr)
				}
				return false
			case <-time.After(5 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				term()
				o = <-exited
				if o.err == nil && !o.killed {
					o.err = fmt.Errorf("no %s after %v: %s", what, daemonDeadline, o.stderr)
				}
				return false
			}
		}
		return true
	}
	stop := func(err error) outcome {
		term()
		o := <-exited
		o.err = errors.Join(o.err, err)
		return o
	}
	if err := ah.put(w, ah.out); err != nil {
		return stop(err)
	}
	arrived := func() bool {
		select {
		case <-g.arrived:
			return true
		default:
			return false
		}
	}
	if !until(arrived, "the first message out to the smarthost") {
		return o
	}
	if err := ah.put(w, ah.waiting); err != nil {
		return stop(err)
	}
	queued := w.e.Path(".local", "state", "homepost", "agent.queued")
	if !until(func() bool {
		b, _ := os.ReadFile(queued)
		return bytes.Contains(b, []byte("\n"+ah.id(ah.waiting)+" "))
	}, "the second message waiting behind the first") {
		return o
	}
	held := hold([]string{"queue", "hold", ah.id(ah.out), ah.id(ah.waiting)})
	if held.err == nil && !held.killed {
		if err := os.WriteFile(w.e.Path(heldMark), []byte("exit 0\n"), 0o600); err != nil {
			return stop(err)
		}
	}
	g.release()
	if until(func() bool { return ah.settled(w) }, "both messages let go") {
		term()
		o = <-exited
		if o.err == nil && !o.killed && !ah.killHold {
			if bad := ah.check(w); len(bad) > 0 {
				o.err = errors.New(strings.Join(bad, "\n\t"))
			}
		}
	}
	if !ah.killHold && held.err != nil {
		o.err = errors.Join(o.err, held.err)
	}
	return o
}

// settled reports whether the agent has let both messages go: outbox
// new/ and hold/ empty, retired files recycled, and each message gone
// from cur/, held there or deferred.
func (ah *askedHold) settled(w *world) bool {
	if len(testenv.Files(w.e.Outbox("hold"))) > 0 || len(testenv.Files(w.e.Outbox("new"))) > 0 || !onlySpares(w.e.Outbox("tmp")) {
		return false
	}
	for _, m := range ah.sc.msgs {
		j, queued := ah.journal(w, m)
		if _, tried := j.sent[m.remoteIdx()]; queued && !tried && !j.held {
			return false
		}
	}
	return true
}

// journal reads m's queue file in cur/; queued: m is in cur/ or new/.
func (ah *askedHold) journal(w *world, m message) (journal, bool) {
	name := ah.sc.names[m.id]
	b, err := os.ReadFile(filepath.Join(w.e.Outbox("cur"), name+":2,"))
	if err == nil {
		return readJournal(b), true
	}
	_, err = os.Lstat(filepath.Join(w.e.Outbox("new"), name))
	return readJournal(nil), err == nil
}

// check looks at what the agent left once it had let both messages go,
// or after the recovery: each message gone to the smarthost or held in
// cur/, no request left in outbox/hold, and where the hold exited 0,
// neither sent (but the one out, where the smarthost took it).
func (ah *askedHold) check(w *world) []string {
	var bad []string
	if l := testenv.Files(w.e.Outbox("hold")); len(l) > 0 {
		bad = append(bad, fmt.Sprintf("requests for a hold left in outbox/hold: %v", l))
	}
	told, _ := os.ReadFile(w.e.Path(heldMark))
	got := w.effects()
	for _, m := range ah.sc.msgs {
		id := m.msgID()
		j, queued := ah.journal(w, m)
		switch {
		case !queued && got[id] == 0:
			bad = append(bad, fmt.Sprintf("%s lost: not in the queue, never taken by the smarthost", id))
		case queued && !j.held:
			bad = append(bad, fmt.Sprintf("%s neither delivered nor held", id))
		}
		if len(told) == 0 {
			continue // the hold was killed: held or not
		}
		if m.id == ah.waiting.id || !ah.accept {
			// Held at once, or as the smarthost deferred it.
			if got[id] > 0 || !j.held {
				bad = append(bad, fmt.Sprintf("%s taken %d times by the smarthost, held %v, though the hold exited 0", id, got[id], j.held))
			}
		}
	}
	return bad
}

// recover starts the agent again (homepost flush: deferred mail is
// retried too), checks what it left, queues one more message, releases
// the held mail and delivers: everything once.
func (ah *askedHold) recover(w *world) (string, []string) {
	var log strings.Builder
	var bad []string
	run := func(stdin []byte, args ...string) {
		out, stderr, code := w.e.Run(stdin, args[0], args[1:]...)
		log.WriteString(stderr)
		if code != 0 {
			bad = append(bad, fmt.Sprintf("%s: exit %d: %s%s", strings.Join(args, " "), code, out, stderr))
		}
	}
	run(nil, "homepost", "flush")
	bad = append(bad, ah.check(w)...)
	later := message{id: "later@sweep.test", rcpts: []string{remote}, size: 300}
	run([]byte(later.text()), "sendmail", "-i", remote)
	run(nil, "homepost", "queue", "release", "ALL")
	run(nil, "homepost", "flush")
	if l := testenv.Files(w.e.Outbox("hold")); len(l) > 0 {
		bad = append(bad, fmt.Sprintf("requests for a hold left in outbox/hold after the release: %v", l))
	}
	n := 0
	for _, got := range w.host.Got(remote) {
		if strings.Contains(got, "Message-ID: "+later.msgID()) {
			n++
		}
	}
	if n != 1 {
		bad = append(bad, fmt.Sprintf("the message queued after the restart was taken %d times, not once", n))
	}
	after := w.effects()
	for _, m := range ah.sc.msgs {
		id := m.msgID()
		// The one out to the smarthost may be sent again once, as the
		// transaction in flight when the agent was killed
		// (checkEffects: never once its result was recorded).
		most := 1
		if m.id == ah.out.id && !ah.killHold && !ah.atStart {
			most = 2
		}
		if after[id] > most {
			bad = append(bad, fmt.Sprintf("%s taken %d times by the smarthost", id, after[id]))
		}
	}
	return log.String(), bad
}

// TestAskedHoldPowerLossOrder records with strace what
// TestAskedHoldSweep kills: "homepost queue hold" of the message out to
// the smarthost and of the one waiting behind it, and the agent as it
// takes both requests (the smarthost defers the one it had: its hold
// is recorded with its result); and "agent --once" taking the requests
// that a crash left, as it starts. It checks each trace against the
// fsync model. A kill cannot tell a sync left out, since the kernel
// keeps what was written; a power loss would: R11 and R5 say that the
// requests and hold/ itself are durable before the hold answers, that
// a request is removed only once the hold record is durable, and that
// its removal is durable at exit.
func TestAskedHoldPowerLossOrder(t *testing.T) {
	needStrace(t)
	t.Run("busy", func(t *testing.T) {
		t.Parallel()
		ah := &askedHold{name: "traced"}
		w := ah.scenario(t).newWorld(t)
		dir := t.TempDir()
		agentTrace, holdTrace := filepath.Join(dir, "agent"), filepath.Join(dir, "hold")
		agentModel := w.model()
		var holdModel *fsyncModel
		a := w.traceAgent(t, agentTrace)
		exited := make(chan outcome, 1)
		go func() { <-a.exited; exited <- outcome{} }()
		o := ah.drive(w, a.stop, exited, func(args []string) outcome {
			holdModel = w.model()
			return w.record(nil, recorded, holdTrace, "homepost", args...)
		})
		if o.err != nil {
			t.Fatalf("%v\nagent log:\n%s", o.err, a.log.String())
		}
		if holdModel == nil {
			t.Fatal("the hold never ran")
		}
		calls := w.checkTrace(t, holdModel, holdTrace)
		if !traceHas(calls, w.e.Outbox("hold")+"/") {
			t.Errorf("the hold's trace never touches outbox/hold")
		}
		w.checkTaken(t, agentModel, agentTrace)
	})
	t.Run("start", func(t *testing.T) {
		t.Parallel()
		ah := &askedHold{name: "traced at start", atStart: true}
		w := ah.scenario(t).newWorld(t)
		if err := ah.leftByCrash(w); err != nil {
			t.Fatal(err)
		}
		m := w.model()
		trace := filepath.Join(t.TempDir(), "agent")
		if o := w.record(nil, recorded, trace, "homepost", "agent", "--once"); o.err != nil {
			t.Fatal(o.err)
		}
		if bad := ah.check(w); len(bad) > 0 {
			t.Fatal(strings.Join(bad, "\n"))
		}
		w.checkTaken(t, m, trace)
	})
}

// checkTaken checks an agent's trace against the fsync model, and that
// it records a hold and removes a request, so that R11 had something
// to check.
func (w *world) checkTaken(t *testing.T, m *fsyncModel, trace string) {
	t.Helper()
	hold := w.e.Outbox("hold") + "/"
	calls := w.checkTrace(t, m, trace)
	taken := false
	for _, c := range calls {
		taken = taken || c.name == "unlinkat" && c.ok() && strings.Contains(c.text, hold)
	}
	if !taken || !traceHas(calls, `h 1\n`) {
		t.Errorf("the agent's trace never records a hold and removes its request: R11 saw nothing to check")
	}
}
