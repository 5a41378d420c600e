// Package agent is homepost's per-user daemon: it watches the outbox,
// claims each message, resolves its recipients and delivers them.
//
// # Failure model
//
// The agent may be killed at any instant, and the machine may lose power.
// Everything it needs to carry on is on disk: a claimed message sits in
// outbox/cur/ with a journal of the results recorded so far; at start
// every file in cur/ is taken up again. A batch's claims are made durable
// (one sync of cur/, shared with the Maildir copies' where it can be)
// before any copy of it takes effect, so that after
// a power loss a message with copies out is found in cur/, never back in
// new/ as if new. A Maildir copy is named after the queue file and the
// recipient index, so a retry after a crash first looks for it (only for
// messages taken up again, never on the hot path) and does not store it
// twice. An mbox copy is recorded in the journal (offset, length,
// SHA-256) before its first byte is appended; at start the agent reads
// every mbox where an unfinished record says, and cuts off a copy that a
// crash left half written before anything else is appended (see
// maildir.Mark); the retry then knows whether the copy is there. Results
// are recorded only after the copies they describe are durable (the
// Maildir's new/, a new mbox's directory are fsynced), and a queue file
// leaves the queue only when every recipient is sent or bounced: retired
// out of cur/, cur/ fsynced once per batch, and only then recycled as a
// spare. test/sweep kills the agent at every system call that changes a
// file and checks the order of its calls against these rules.
//
// # Who does what
//
// The agent decides when: it claims messages, forms batches, resolves
// recipients (package forwarder), keeps the journal and the retry
// schedule, and bounces. How a copy reaches its target is a courier's
// business (package courier): the agent hands each courier every copy
// of its kind in a batch and records the results it gets back.
//
// # Scheduling
//
// new/ is watched with fsnotify: no polling, an idle agent makes no
// wake-ups. Deferred messages stay in cur/; one timer fires when the
// earliest is due. SIGUSR1 makes everything due now (flush), SIGHUP
// reloads the configuration, SIGUSR2 asks for a pass over what is due
// and an answer when it has ended (await.go: agent --once and flush wait
// for a running agent so), SIGTERM finishes the batch in progress and
// exits (a smarthost delivery that has not answered within stopGrace is
// cancelled, remote.go). A configuration file with an error makes the agent hold the
// queue until it is fixed (held.go). In the loop, the smarthost's copies go out from
// a goroutine (remote.go), so that local mail never waits for it.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"homepost/config"
	"homepost/courier"
	"homepost/forwarder"
	"homepost/maildir"
	"homepost/outbox"
	"homepost/relay"
	"homepost/safeio"
)

// Options change how Run behaves.
type Options struct {
	// Once delivers everything that is due, then returns.
	Once bool
	// Background runs as a daemon until the queue is empty, then
	// returns; it gives way to a daemon that starts (SIGTERM). sendmail
	// starts one where no agent runs, so that deferred mail is retried
	// even when nobody logs in.
	Background bool
	// Flush makes every deferred message due now.
	Flush bool
	// ConfigErr is the error of a configuration file that does not
	// load, when the configuration given is the fallback that tells
	// where the queue is (config.LoadQueue): the agent then holds the
	// queue (held.go).
	ConfigErr error
	// Ready is called once the agent watches the outbox (sd_notify);
	// what it returns (key, value pairs: the SMTP listener's addresses)
	// goes into the one "agent started" line, so that an agent that
	// starts and then idles prints one line. Stopping is called when
	// it begins to stop.
	Ready    func() []any
	Stopping func()
	// Receiving reports whether mail is being received at the moment
	// (an SMTP transaction of the agent's listener is open): in a
	// stream, the agent waits up to gatherWait for it before the next
	// batch, so that the batch shares its syncs with more messages
	// (drain). nil: never.
	Receiving func() bool
	// Streaming reports whether the listener is in a stream of mail (a
	// transaction open, or one ended a moment ago): a delivery's syncs
	// then wait up to lingerWait for a session's, which covers them
	// (safeio.Group.SyncSoon). nil: never.
	Streaming func() bool
	// Reloaded is called with the configuration a reload took (a
	// changed file, SIGHUP, a fixed file after a hold), for what lives
	// outside the agent (the SMTP listener) to follow it. retry says
	// that the reload was asked for (SIGHUP), or ends a hold: what
	// could not be opened before is tried again even if its settings
	// are the same, which a reload for a changed .forward does not do
	// (it would log the same error at each).
	Reloaded func(cfg *config.Config, retry bool)
	// Reading is what StartReading noted before the configuration
	// given was read: a change made before the agent watches the file
	// is read again (watch.go). nil: nothing is compared.
	Reading *Reading
}

// Agent delivers one user's outbox.
type Agent struct {
	cfg *config.Config
	log *slog.Logger
	box outbox.Dir
	fwd *forwarder.Forwarder
	now func() time.Time
	// stopAsked is set as SIGTERM or SIGINT comes (onStopSignal): no
	// batch begins after it, though the loop may be in a long one (a
	// |command) when it comes, and takes the signal only after it.
	stopAsked atomic.Bool

	// couriers deliver the copies of each kind of target: Maildir,
	// Mbox, Command and Remote (Store is one of the first two).
	couriers map[forwarder.Kind]courier.Courier
	// mbox outlives a reload: it remembers the mailboxes that stayed
	// locked, so that the rest of a batch does not wait for them again.
	mbox *courier.Mbox

	// receiving is Options.Receiving.
	receiving func() bool
	// streaming is Options.Streaming.
	streaming func() bool

	// due maps a claimed file's name (in cur/) to when it is next due.
	due map[string]time.Time
	// forced holds messages whose deferred recipients are retried at
	// once (flush).
	forced map[string]bool
	// forcedRemote holds messages whose deferred remote recipients are
	// retried at once: the [relay] configuration changed (reload).
	forcedRemote map[string]bool
	// unwritten holds, by queue file name, the results that could not
	// be appended to its journal (journal.go, keepUnwritten).
	unwritten map[string][]outbox.Record
	// forcedLocal holds messages whose deferred local recipients are
	// retried at once: where local mail goes changed (reload).
	forcedLocal map[string]bool
	// async sends the smarthost's copies from a goroutine (remote.go):
	// set while the daemon's loop runs. inflight holds the jobs whose
	// copies are out, remoteOut counts the batches and out holds them,
	// remoteDone brings their answers, remoteMu lets one delivery to the
	// smarthost run at a time, and outgoing collects a batch's copies
	// for it (dispatch). answering is the pass asked for whose answer
	// waits for the smarthost's (await.go, passEnded).
	async     bool
	inflight  map[string]bool
	remoteOut int
	out       map[*remoteBatch]bool
	// backlog holds, in the order they came, the messages whose copies
	// for the smarthost wait for room among the deliveries out
	// (remoteOutLimit), by name, with those copies (for mailq) and the
	// flush that was asked of them; backlogList lists the names in order.
	// Their local copies are done and recorded and their queue files
	// closed: without the limit, each batch's files stayed open behind
	// a smarthost that does not answer, and a queue of thousands ran
	// out of file descriptors, local mail with it (remote.go).
	backlog     map[string]*backlogged
	backlogList []string
	// dropWarned holds the names in outbox/new whose drop failed and
	// was logged (dropFailed).
	dropWarned  map[string]bool
	answering   *answering
	remoteDone  chan *remoteBatch
	remoteMu    sync.Mutex
	outgoing    []*send
	outgoingVia courier.Courier
	// queuedAt is the file that lists the deliveries out, where the
	// loop last wrote it (showQueued); "" when none is written.
	queuedAt string
	// watch holds the files whose change triggers a reload, and the
	// change seen but not yet read (watch.go); reading, the stamps of
	// the files as they were before the last reading. look is set when
	// new/ may hold mail to claim.
	watch   watch
	reading *Reading
	look    bool
	// changeWaits is set while the loop runs: it takes the watcher's
	// events and reports whether a change of the configuration waits
	// to be read, which holds the next batch (drain).
	changeWaits func() bool
	// reloaded is Options.Reloaded; background is Options.Background.
	reloaded   func(*config.Config, bool)
	background bool
	// started is set once "agent started" is logged: a background
	// delivery runs its loop again for mail that came as it ended.
	started bool

	// usr2 receives the requests of waiters (await.go): passWanted is
	// set when one came, and the next pass's end is written down, with
	// its start (passAt), in the status file.
	usr2       chan os.Signal
	passWanted bool
	// reqs receives SIGHUP (reload) and SIGUSR1 (flush) from the start
	// of Run, so that none sent right after the lock names this process
	// is lost or kills it.
	reqs chan os.Signal
	// stops receives SIGTERM and SIGINT for a loop that withSignals
	// runs (the background delivery), from before the loop begins:
	// one that came while the loop started, before its own channel
	// was registered, went to withSignals' alone, which waited for
	// the loop to end, and a held delivery never ended.
	stops chan os.Signal
	// stopped is closed as SIGTERM or SIGINT comes during a one-shot
	// pass (withSignals): its delivery to the smarthost then follows a
	// stopping daemon's rules (stopOnce). nil: no such pass runs.
	stopped chan struct{}
	passAt  int64
	// flushedAt is when the last flush was taken up (Flush).
	flushedAt int64
	// localAt is the start of the last pass asked for whose local
	// deliveries have ended, its smarthost copies perhaps still out.
	localAt int64
	// held is why nothing is delivered: the configuration does not load;
	// resumed is set when it is fixed, for new/ to be read again.
	held    error
	resumed bool
	// retired are the queue files that the last drain retired (renamed
	// out of cur/ into tmp/, still open) and whose retirement is not yet
	// known to be durable: the next batch's sync of cur/ makes it so
	// (deliverHolding), or, when no mail comes within retireWait, an
	// fsync of cur/ of their own (release). Either way before they are
	// recycled.
	retired []*outbox.Message
	// retiredAway: one of retired had copies that a retry cannot find
	// (a command's, the smarthost's) or bounces: its retirement is made
	// durable when the drain ends, not left waiting.
	retiredAway bool
	// newDropped: names were dropped from outbox/new/ (claims made
	// durable) since new/ was last synced. Set where the claims settle,
	// which may be a courier's goroutine.
	newDropped atomic.Bool
	// published is the last drain's batch whose Maildir copies are
	// renamed into new/ but not yet synced there (deliverHolding): the
	// next batch or settle finishes it.
	published *published
	// batches counts the batches of drains, for the wait of what the
	// last one left (retireWait).
	batches uint64
	// mv is what the agent keeps of a move of the outbox or state_dir
	// that it followed (move.go).
	mv moves
}

// Run is the agent's main loop. It returns a *LockedError when another
// agent runs.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options) error {
	// Requests of waiters (SIGUSR2) are taken from before the lock file
	// names this process until it exits: unhandled, the signal kills.
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	reqs := make(chan os.Signal, 4)
	signal.Notify(reqs, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(reqs)
	transient := opts.Once || opts.Background
	if opts.ConfigErr != nil && transient && (!opts.Background || !waiting(cfg)) {
		// A background delivery stays for mail that waits (held.go).
		log.Error("configuration error: delivery is held until it is fixed", "reason", opts.ConfigErr)
		return heldError(opts.ConfigErr)
	}
	lock, err := TryLock(cfg, transient)
	for asked := false; opts.Once && !opts.Background && isLocked(err); asked = true {
		if le := (*LockedError)(nil); errors.As(err, &le) && le.Next {
			// A daemon is taking the lock: once it has, ask it.
			time.Sleep(20 * time.Millisecond)
			lock, err = TryLock(cfg, transient)
			continue
		}
		// Another agent delivers: have it deliver what is due now and
		// wait for it, so that "send; agent --once; read" works.
		if !asked {
			log.Info("another agent is running: waiting for it to deliver what is due", "pid", lockPid(err))
		}
		await := AwaitPass
		if opts.Flush {
			await = Flush
		}
		werr := await(ctx, cfg)
		if werr == nil {
			return nil
		}
		if errors.Is(werr, ErrSmarthostBusy) {
			log.Info("the running agent has delivered what is due; its delivery to the smarthost is still in progress, and its results are recorded when the smarthost answers", "pid", lockPid(err))
			return nil
		}
		if !errors.Is(werr, ErrNotRunning) {
			return err // it does not answer: leave, as before
		}
		lock, err = TryLock(cfg, transient) // it went away: deliver ourselves
	}
	// A background delivery that sendmail started while an agent was
	// stopping (submit.Wake): that agent delivers nothing more, so
	// what was queued meanwhile is this one's, once it has gone.
	for said := false; opts.Background && isStopping(err); said = true {
		if !said {
			log.Info("waiting for the agent that is stopping to end", "pid", lockPid(err))
		}
		time.Sleep(20 * time.Millisecond)
		lock, err = TryLock(cfg, transient)
	}
	var turn *Turn
	var stopWait time.Time
	for asked := 0; err != nil && !transient; {
		// A one-shot or background delivery started by sendmail holds
		// the lock: ask it to give way, rather than leave no daemon.
		// While the daemon waits, no other one-shot delivery takes
		// the lock (WaitTurn: a command that finds mail waiting and no
		// agent starts one); one that took it just before is asked in
		// turn.
		var le *LockedError
		if errors.As(err, &le) && le.Stopping {
			// An agent stopping (a restart: "kill PID; homepost
			// agent"): take the lock once it has let it go.
			// It ends: its sessions, its deliveries and its
			// commands have bounds of their own. So it is waited
			// for as long as it takes, saying so now and then,
			// rather than leave no daemon.
			if stopWait.IsZero() || time.Now().After(stopWait) {
				what := "waiting for the agent that is stopping to end"
				if !stopWait.IsZero() {
					what = "still " + what
				}
				log.Info(what, "pid", le.Pid)
				stopWait = time.Now().Add(stoppingWait)
			}
			time.Sleep(20 * time.Millisecond)
			lock, err = TryLock(cfg, false)
			continue
		}
		if !errors.As(err, &le) || !le.Once {
			turn.Done()
			return err
		}
		if turn == nil {
			turn = WaitTurn(cfg)
		}
		if le.Pid != asked {
			log.Info("asking a one-shot delivery to give way", "pid", le.Pid)
			syscall.Kill(le.Pid, syscall.SIGTERM)
			asked = le.Pid
		}
		time.Sleep(100 * time.Millisecond)
		lock, err = TryLock(cfg, false)
	}
	turn.Done()
	if err != nil {
		return err
	}
	a := newAgent(cfg, log)
	if r := opts.Reading; r != nil {
		// The files that steer forwarding were noted as configure
		// read them.
		for p, st := range a.reading.stamps {
			if _, ok := r.stamps[p]; !ok {
				r.stamps[p] = st
			}
		}
		a.reading = r
	}
	if !transient {
		// From the first signal to stop on, a daemon that starts
		// waits for this one to end (LockedError.Stopping).
		stopping := opts.Stopping
		opts.Stopping = func() {
			lock.MarkStopping()
			if stopping != nil {
				stopping()
			}
		}
		// Marked as the signal comes, not only when the loop takes it:
		// the loop may be in a delivery that runs long (a |command),
		// and a daemon started meanwhile would find a running agent
		// and leave, and none would be left; and no batch begins after
		// it (drain), or the stop would last as long as mail came.
		defer onStopSignal(func() {
			lock.MarkStopping()
			a.stopAsked.Store(true)
		})()
	}
	a.usr2, a.reqs, a.receiving, a.streaming = usr2, reqs, opts.Receiving, opts.Streaming
	a.reloaded, a.background = opts.Reloaded, opts.Background
	if streaming := opts.Streaming; streaming != nil {
		safeio.Shared.Linger = func() time.Duration {
			if streaming() {
				return lingerWait
			}
			return 0
		}
	}
	a.writeStatus()
	if opts.ConfigErr != nil {
		// A daemon, or a background delivery while mail waits: it
		// watches the file and delivers once it is fixed (held.go).
		a.hold(opts.ConfigErr)
	}
	if transient {
		run := func() error { return a.runOnce(ctx, opts.Flush) }
		if opts.Background {
			run = func() error { return a.loop(ctx, opts) }
		}
		err := a.withSignals(run)
		lock.Unlock()
		a.unlockMoved()
		// A message queued after our last look but before the unlock
		// saw the lock held and started nobody: look once more (where
		// the configuration says now: move.go). Not after a SIGTERM:
		// the delivery was asked to end, and a held one finds mail
		// waiting for ever.
		for err == nil && a.pending() {
			if lock, err = TryLock(a.cfg, true); err != nil {
				return nil // another agent took over
			}
			err = a.withSignals(run)
			lock.Unlock()
			a.unlockMoved()
		}
		if errors.Is(err, errStopped) {
			return nil
		}
		return err
	}
	defer lock.Unlock()
	defer a.unlockMoved()
	if err := a.loop(ctx, opts); !errors.Is(err, errStopped) {
		return err
	}
	return nil
}

// onStopSignal calls f as soon as SIGTERM or SIGINT comes, until the
// function it returns is called (before the lock is let go).
func onStopSignal(f func()) func() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		select {
		case <-sigs:
			f()
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
		<-ended
	}
}

// isStopping reports whether err says that an agent that is stopping
// holds the lock.
func isStopping(err error) bool {
	var le *LockedError
	return errors.As(err, &le) && le.Stopping
}

// stoppingWait is how often a daemon that starts says that it still
// waits for an agent that is stopping: that agent ends its SMTP
// sessions within 5 s, its deliveries to the smarthost within
// stopGrace, or stopAnswerWait more for an answer, and a command it
// runs within command_timeout.
const stoppingWait = 30 * time.Second

// errStopped is what the loop returns when SIGTERM or SIGINT ended it:
// the caller ends too, rather than look for more mail to deliver.
var errStopped = errors.New("stopped by a signal")

// waiting reports whether the outbox holds mail, new or claimed.
func waiting(cfg *config.Config) bool {
	for _, sub := range []string{"new", "cur"} {
		if names, _ := outbox.Dir(cfg.Outbox).Names(sub); len(names) > 0 {
			return true
		}
	}
	return false
}

func newAgent(cfg *config.Config, log *slog.Logger) *Agent {
	a := &Agent{
		cfg: cfg, log: log, box: outbox.Dir(cfg.Outbox),
		now: time.Now, due: map[string]time.Time{}, forced: map[string]bool{},
		forcedRemote: map[string]bool{}, forcedLocal: map[string]bool{}, inflight: map[string]bool{},
		out:        map[*remoteBatch]bool{},
		backlog:    map[string]*backlogged{},
		remoteDone: make(chan *remoteBatch),
	}
	a.mbox = &courier.Mbox{Now: func() time.Time { return a.now() }}
	a.configure(cfg)
	return a
}

// configure (re)builds what depends on the configuration.
func (a *Agent) configure(cfg *config.Config) {
	a.cfg = cfg
	a.box = outbox.Dir(cfg.Outbox)
	a.fwd = forwarder.New(cfg, a.log)
	// The files that steer forwarding are noted before they are read,
	// for a change made before they are watched (watch.go).
	if a.reading == nil || a.reading.checked {
		a.reading = &Reading{stamps: map[string]stamp{}}
	}
	for _, p := range []string{cfg.Aliases, cfg.Forward, cfg.SystemAliases} {
		a.reading.note(p)
	}
	// The aliases' and .forward's problems are logged as they are read
	// now, once, rather than first when a message needs them.
	a.fwd.Load()
	a.couriers = map[forwarder.Kind]courier.Courier{
		forwarder.Maildir: courier.Maildir{},
		forwarder.Mbox:    a.mbox,
		forwarder.Command: courier.Command{Config: cfg},
		forwarder.Remote:  newRelay(cfg, a.log),
	}
}

// newRelay is the courier for remote copies: the smarthost, or, without
// a usable one, a Hold that keeps the mail queued and says why.
func newRelay(cfg *config.Config, log *slog.Logger) courier.Courier {
	if cfg.Relay.URL == "" {
		file := cfg.File
		if file == "" {
			file = config.DefaultPath(cfg.Home)
		}
		return courier.Hold{Result: courier.Temp("4.4.0", "no smarthost configured: set [relay] url in %s", file)}
	}
	c, err := relay.New(cfg, log)
	if err != nil {
		log.Error("relay configuration", "reason", err)
		return courier.Hold{Result: courier.Temp("4.3.5", "relay configuration: %v", err)}
	}
	return courier.Relay{Sender: c}
}

// withSignals runs a one-shot pass with the signals that newaliases,
// homepost queue and flush send to whoever holds the lock: SIGHUP
// reloads and SIGUSR1 flushes, in another pass, rather than kill the
// delivery in the middle of its work; SIGTERM (a daemon starting) or
// SIGINT (^C) ends it after the pass, whose delivery to the smarthost
// ends as a stopping daemon's does (stopOnce).
func (a *Agent) withSignals(run func() error) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	a.stops = sigs
	defer func() { a.stops = nil }()
	// A daemon that starts asks the pass to end: no batch begins after,
	// and the delivery to the smarthost in progress ends as at a
	// daemon's stop (stopOnce).
	stopped := make(chan struct{})
	a.stopped = stopped
	defer func() { a.stopped = nil }()
	defer onStopSignal(func() {
		a.stopAsked.Store(true)
		close(stopped)
	})()
	err := run()
	for err == nil {
		select {
		case <-sigs:
			return errStopped
		case s := <-a.reqs:
			switch s {
			case syscall.SIGHUP:
				a.awaitQuiet()
				a.reload("SIGHUP", true, true)
				err = a.runOnce(context.Background(), false)
			case syscall.SIGUSR1:
				a.flushTaken()
				err = a.runOnce(context.Background(), true)
			}
		case <-a.usr2:
			// A flush sent before the request is done in this pass.
			flush := false
			for more := true; more; {
				select {
				case s := <-a.reqs:
					if s == syscall.SIGHUP {
						a.awaitQuiet()
						a.reload("SIGHUP", true, true)
					}
					flush = flush || s == syscall.SIGUSR1
				default:
					more = false
				}
			}
			if flush {
				a.flushTaken()
			}
			start := monotonic()
			err = a.runOnce(context.Background(), flush)
			a.passDone(start)
		default:
			return err
		}
	}
	return err
}

// pending reports whether new/ holds a message to claim. A name that is
// in cur/ too is not one: its drop failed or had to wait (Take,
// DropClaimed), and looking again at once would only fail again, for
// ever where the failure lasts (out of file descriptors).
func (a *Agent) pending() bool {
	names, _ := a.box.Names("new")
	for _, n := range names {
		if _, err := os.Lstat(a.box.Path("cur", n+":2,")); errors.Is(err, os.ErrNotExist) {
			return true
		}
	}
	return false
}

func (a *Agent) runOnce(ctx context.Context, flush bool) error {
	a.moveOn() // a reload moved the outbox (move.go)
	if err := a.start(); err != nil {
		return err
	}
	a.resumeMoves(a.background || !a.async) // a move that a kill cut short, as the loop (move.go)
	a.moveOn()
	if flush {
		a.flushAll()
	}
	a.drain(ctx)
	a.settle()
	a.runDue(ctx)
	return nil
}

// start prepares the outbox and takes up what a crash left.
func (a *Agent) start() error {
	if err := a.box.Init(); err != nil {
		return err
	}
	if err := a.box.Tidy(); err != nil {
		a.log.Warn("recycle queue files", "reason", err)
	}
	a.cleanTmp()
	a.logQueueActions() // what homepost queue did (queueactions.go)
	a.dropStaleHolds()
	names, err := a.box.Names("cur")
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	for _, n := range names {
		if _, ok := a.due[n]; !ok && !a.inflight[n] {
			a.due[n] = time.Time{} // look at it now
		}
	}
	a.cutTorn(names)
	return nil
}

// cutTorn cuts off the mbox copies that a killed delivery left half
// written, before anything else is appended to those mboxes: a later
// copy appended after a cut-off one would bury it where it can no
// longer be cut (see maildir.Mark). Each queue file in cur/ says, by
// its marks, which copy was being appended where.
func (a *Agent) cutTorn(names []string) {
	for _, n := range names {
		m, err := outbox.OpenLocked(a.box.Path("cur", n))
		if err != nil {
			continue // busy, gone or unreadable: its delivery will tell
		}
		marks := map[int]*outbox.Mark{}
		for i, r := range m.Env.Rcpts {
			if r.Mark != nil && !r.Status.Done() {
				marks[i] = r.Mark
			}
		}
		if m.Env.DSNMark != nil {
			marks[outbox.DSNIdx] = m.Env.DSNMark
		}
		for i, mk := range marks {
			l, err := maildir.Mbox(mk.Path).LockForDelivery()
			if err != nil {
				a.log.Warn("recover mbox copy", "id", m.ID, "mbox", mk.Path, "reason", err)
				continue
			}
			st, err := l.Resolve(maildir.Mark{Off: mk.Off, Len: mk.Len, Sum: mk.Sum, Time: mk.Time}, m.Env.Sender)
			l.Unlock()
			if err != nil {
				a.log.Warn("recover mbox copy", "id", m.ID, "mbox", mk.Path, "reason", err)
				continue
			}
			if st == maildir.Cut {
				a.log.Info("cut off a copy that a crash left incomplete", "id", m.ID, "mbox", mk.Path, "offset", mk.Off)
			}
			if st == maildir.Cut || st == maildir.Absent {
				if err := m.Append(outbox.MarkRecord(i, nil)); err != nil {
					a.log.Warn("recover mbox copy", "id", m.ID, "reason", err)
				}
			}
		}
		m.Close()
	}
}

// cleanTmp removes queue files that a killed shim left in tmp/. They were
// never acknowledged, so nobody expects them; 36 hours is qmail's rule
// for "surely abandoned".
func (a *Agent) cleanTmp() {
	names, _ := a.box.Names("tmp")
	for _, n := range names {
		p := a.box.Path("tmp", n)
		if st, err := os.Stat(p); err == nil && a.now().Sub(st.ModTime()) > 36*time.Hour {
			os.Remove(p)
		}
	}
}

// flushAll makes every claimed message and every deferred recipient in
// it due now, and the deferred recipients of what waits in new/ to be
// claimed: a message released from hold comes back there with its
// journal, and is a deferred message as much as one in cur/.
func (a *Agent) flushAll() {
	for n := range a.due {
		a.due[n] = time.Time{}
		a.forced[n] = true
	}
	names, _ := a.box.Names("new")
	for _, n := range names {
		a.forced[n+":2,"] = true
	}
}

func (a *Agent) loop(ctx context.Context, opts Options) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch outbox: %w", err)
	}
	defer w.Close()
	if err := a.box.Init(); err != nil {
		return err
	}
	if err := w.Add(a.box.Path("new")); err != nil {
		return fmt.Errorf("watch outbox: %w", err)
	}
	a.mv.w = w
	defer func() { a.mv.w = nil }()
	if a.reading != nil {
		// A background delivery runs its loop again for mail that came
		// as it ended: what changed since the last reading, while no
		// watch was set up, is read again too.
		a.reading.checked = false
	}
	a.watchFiles(w)
	if err := a.start(); err != nil {
		return err
	}
	if opts.Flush {
		a.flushAll()
	}
	sigs := a.stops
	if sigs == nil {
		sigs = make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		defer signal.Stop(sigs)
	}
	reqs := a.reqs
	if reqs == nil {
		reqs = make(chan os.Signal, 4)
		signal.Notify(reqs, syscall.SIGHUP, syscall.SIGUSR1)
		defer signal.Stop(reqs)
	}
	request := func(s os.Signal) {
		switch s {
		case syscall.SIGHUP:
			// Asked for: read now, unless a file is being written
			// (systemctl reload right after a tool's non-atomic
			// write): then once it has settled (watch.go).
			if a.hupWaits(w) {
				return
			}
			a.watch.first, a.watch.changed, a.watch.hup = time.Time{}, nil, false
			a.reload("SIGHUP", true, true)
			a.watchFiles(w)
			a.look = true
		case syscall.SIGUSR1:
			a.log.Info("flush requested")
			a.recheck("changed since it was read")
			a.flushAll()
			a.flushTaken()
		}
	}
	var more []any
	if opts.Ready != nil {
		more = opts.Ready()
	}
	if !a.started {
		a.log.Info("agent started", append([]any{"outbox", a.cfg.Outbox, "store", a.cfg.Store, "pid", os.Getpid()}, more...)...)
		a.started = true
	}
	// A move that a kill cut short, or, in a background delivery's
	// next round, one whose locks the last round gave up (move.go).
	a.resumeMoves(a.background)

	defer a.settle()
	// A move of the outbox that waited for the smarthost is made once
	// what was out has been answered or cancelled (move.go).
	defer a.moveOn()
	// The smarthost's copies go out from a goroutine while the loop
	// runs (remote.go), so that local mail never waits for it; what is
	// out when the loop ends is waited for, and recorded, first: for
	// stopGrace, then cancelled (stopRemote).
	ctx, cancelRemote := context.WithCancel(ctx)
	defer cancelRemote()
	a.async = true
	defer func() {
		a.stopRemote(cancelRemote)
		a.async = false
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	retire := time.NewTimer(time.Hour)
	retire.Stop()
	defer retire.Stop()
	// retireBy is when what the last batch left waiting (a.retired,
	// a.published) gets syncs of its own: retireWait after that batch.
	var retireBy time.Time
	var batches uint64 // a.batches when retireBy was set
	// look (a.look) is false after an event that brings nothing new to
	// new/: a claim's own rename out of new/ is one per message, and
	// listing new/ for it would be wasted work on the hot path.
	a.look = true
	// A change of the configuration seen between two batches holds the
	// next one until it is read (watch.go).
	a.changeWaits = func() bool {
		a.takeEvents(w)
		return a.watch.pending()
	}
	defer func() { a.changeWaits = nil }()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		// Events that came during the last batch first: a change of
		// the configuration among them holds the next batch.
		a.takeEvents(w)
		settleAt := a.settleChanges(w, time.Now())
		a.moveOn() // a reload moved the outbox (move.go)
		passStart := monotonic()
		if a.held == nil && settleAt.IsZero() {
			// What waits for room among the deliveries to the
			// smarthost goes before new mail (remote.go).
			a.runBacklog(ctx)
			if a.look || a.resumed {
				a.look, a.resumed = false, false
				a.drain(ctx)
			}
			if a.watch.pending() {
				// A change seen during the drain: wait for it to
				// settle before anything else is delivered.
				continue
			}
			a.runDue(ctx)
			// Messages of the backlog that a pass waits for may have
			// been finished here without going out (held, deleted).
			a.answerIfDone()
		}
		if a.passWanted && settleAt.IsZero() {
			// A waiter reads the queue and the mailbox next: what the
			// pass delivered is finished before it is answered. The
			// smarthost's copies out now are not waited for here, which
			// would hold up local mail: the answer waits for them
			// (passEnded, remoteFinished) while the loop goes on. A
			// change of the configuration being read first is waited
			// for: the pass is the one after it.
			a.settle()
			a.passEnded(passStart)
		}
		if opts.Background && settleAt.IsZero() && a.published != nil && len(a.due) == 0 && a.remoteOut == 0 {
			// The last batch is finished before the queue is judged
			// empty: a message with a copy in a Maildir and another
			// deferred is scheduled again only once its batch is
			// finished (settle), and the delivery exited with it
			// unscheduled, leaving the deferred copy to the next
			// command that happened to run.
			a.settle()
		}
		if opts.Background && settleAt.IsZero() && len(a.due) == 0 && a.remoteOut == 0 && len(a.backlog) == 0 && (a.held == nil || !a.pending()) {
			// Nothing queued, nothing deferred. Held for a configuration
			// error, mail in new/ keeps it: it delivers once the file is
			// fixed.
			return nil
		}
		var rc <-chan time.Time
		if len(a.retired) == 0 && a.published == nil {
			retireBy = time.Time{}
		} else {
			if retireBy.IsZero() || batches != a.batches {
				retireBy, batches = time.Now().Add(retireWait), a.batches
			}
			retire.Reset(time.Until(retireBy))
			rc = retire.C
		}
		next := a.nextDue()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		var tc <-chan time.Time
		if !next.IsZero() && a.held == nil && settleAt.IsZero() {
			timer.Reset(max(next.Sub(a.now()), 0))
			tc = timer.C
		}
		var sc <-chan time.Time
		if !settleAt.IsZero() {
			settle.Reset(time.Until(settleAt))
			sc = settle.C
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("watch outbox: watcher closed")
			}
			// Coalesce: a stream of mail queues one event per message
			// while a batch is delivered, and one listing of new/
			// takes up every message they announce. The others
			// waiting are taken at the top of the loop.
			a.event(w, ev)
		case err := <-w.Errors:
			a.eventsLost(err)
		case <-tc:
			a.look = true
		case <-sc:
		case b := <-a.remoteDone:
			a.remoteFinished(b)
		case <-rc:
			a.settle()
		case <-a.usr2:
			// A flush or reload sent before the request is taken up
			// first: the pass that answers covers it.
			for more := true; more; {
				select {
				case s := <-reqs:
					request(s)
				default:
					more = false
				}
			}
			// Answered with the file as it is now: a change that no
			// event told is read first.
			a.takeEvents(w)
			a.recheck("changed since it was read")
			a.logQueueActions() // homepost queue asks too (queueactions.go)
			a.passWanted = true
			a.look = true
		case s := <-reqs:
			request(s)
			a.look = true
		case s := <-sigs:
			a.log.Info("agent stopping", "signal", s.String())
			if opts.Stopping != nil {
				opts.Stopping()
			}
			return errStopped
		}
	}
}

// reload re-reads the configuration; a broken file keeps the old one
// (held.go). local says that the files that steer forwarding may have
// changed (one of them did, or SIGHUP, which newaliases sends), beside
// what config.toml says; asked, that it was asked for (SIGHUP), not
// made by a changed file (Options.Reloaded).
func (a *Agent) reload(why string, local, asked bool) {
	// Noted before the reading, compared once the watches follow what
	// it named (watchFiles).
	before := a.reading
	a.reading = &Reading{stamps: map[string]stamp{}}
	a.reading.note(config.DefaultPath(a.cfg.Home))
	cfg, err := config.Load()
	if err != nil {
		// The files that steer forwarding were not read again: their
		// stamps are those of their last reading.
		if before != nil {
			for p, st := range before.stamps {
				if _, ok := a.reading.stamps[p]; !ok {
					a.reading.stamps[p] = st
				}
			}
		}
		// The outbox read before, made open to others since, is not
		// delivered from either (settings.Config.CheckQueue).
		if a.held != nil || a.cfg.CheckQueue() != nil {
			a.hold(err)
			return
		}
		a.log.Error("reload config: keeping the configuration read before", "reason", err)
		return
	}
	a.follow(cfg) // the outbox or state_dir moved (move.go)
	relayChanged := cfg.Relay != a.cfg.Relay
	local = local || !reflect.DeepEqual(localSettings(cfg), localSettings(a.cfg))
	a.configure(cfg)
	a.followed()
	wasHeld := a.held != nil
	if wasHeld {
		a.hold(nil)
	}
	a.log.Info("reloaded", "why", why)
	if a.reloaded != nil {
		a.reloaded(cfg, asked || wasHeld)
	}
	if relayChanged {
		// A fixed smarthost (its URL, password, timeouts) is tried at
		// once with what it deferred, not after the backoff; and what
		// is out with the old settings ends (remote.go).
		a.flushRemote()
		a.relayReplaced()
	}
	if local {
		// Likewise a fixed store, aliases or .forward: the local
		// copies its mistake deferred are retried at once, rather than
		// wait up to an hour with a reason about a path no longer used.
		a.flushLocal()
	}
}

// localSettings is what of the configuration steers local delivery:
// all of it but the smarthost and the listener.
func localSettings(cfg *config.Config) config.Config {
	c := *cfg
	c.Relay, c.SMTP = config.Config{}.Relay, config.Config{}.SMTP
	return c
}

// flushRemote makes every claimed message due now, and its deferred
// remote recipients with it.
func (a *Agent) flushRemote() {
	for n := range a.due {
		a.due[n] = time.Time{}
		a.forcedRemote[n] = true
	}
}

// flushLocal makes every claimed message due now, and its deferred
// local recipients with it.
func (a *Agent) flushLocal() {
	for n := range a.due {
		a.due[n] = time.Time{}
		a.forcedLocal[n] = true
	}
}

// nextDue is the earliest time a deferred message is due.
func (a *Agent) nextDue() time.Time {
	var t time.Time
	for _, d := range a.due {
		if d.IsZero() {
			return a.now()
		}
		if t.IsZero() || d.Before(t) {
			t = d
		}
	}
	return t
}

// retireWait is how long what a drain's last batch leaves waiting (its
// Maildir copies' new/, a.published, and the retirements, a.retired)
// waits for the next batch's sync before it gets syncs of its own
// (settle). A sendmail at a time (cron, scripts) is one batch each;
// with each batch's syncs its own, the agent made three flushes of the
// disk per message beside sendmail's two (the copy with the claim, the
// Maildir's new/, outbox/cur for the retirement), and now makes one.
// Until the sync, the files wait unrecycled (a sendmail meanwhile writes
// a new file instead of a spare) and the batch's results unrecorded; a
// power loss may leave or put the messages back in cur/, where the next
// start takes them up as possibly delivered and finds every copy
// (deliverHolding). Only copies that can be found wait so: Maildir
// copies by name, mbox copies by their marks. A batch with a copy for a
// command or the smarthost, or a bounce, is finished and its retirement
// made durable at the end of its drain, as before, since a retry would
// send those again.
const retireWait = 100 * time.Millisecond

// releaseRetired makes the last drain's retirements durable and recycles
// the files.
func (a *Agent) releaseRetired() {
	ms := a.retired
	a.retired, a.retiredAway = nil, false
	a.release(ms)
}

// maxBatch bounds how many messages share one group commit.
const maxBatch = 256

// gatherWait is how long a batch in a stream of SMTP mail waits for more
// of it (drain), unless gatherMin messages wait already; it stops
// waiting, checking every gatherStep, once the listener's stream has
// ended (Options.Streaming), so that the last messages of a stream are
// not kept waiting. Measured over one SMTP connection on the development
// machine, where a batch of one message (the copy, five directories
// touched) cost the disk twice the writes of the listener's own seven:
// waiting 5 ms took the disk's writes per message from 22–24 to 11–14,
// and the rate from 0.46–0.48 to 0.65–0.69 of the disk's one-by-one
// ceiling; 20 ms instead of 5, with the listener's syncs since made
// cheaper, took the sessions' sync (p50) from 426–443 to 350–388 µs and
// the rate from 823–850 to 839–950 messages a second (three alternating
// pairs): the syncs of the sessions carry less of the deliveries'
// writes. The end of a stream is asked every 2 ms rather than 4, and 16
// messages waiting already are a batch worth its syncs (not 64): the
// last messages of a stream are what a user waits for, and the end of
// a stream (smtpd's streamGap) is now told a millisecond after its last
// 250; over eight connections the time from the last 250 to the last
// copy went from 8–11% to 5.5–5.8% of a block of 250 messages (two
// alternating pairs of test/bench/smtp), and 1000 messages ran at a
// median 1729 against 1692 messages a second (five alternating pairs).
const (
	gatherWait = 20 * time.Millisecond
	gatherStep = 2 * time.Millisecond
	gatherMin  = 16
)

// gather waits for more of a stream (see gatherWait) and reports whether
// ctx is still live. It ends early once enough says that gatherMin
// messages wait: over eight connections the wait had let forty or more
// pile up, whose delivery then took as long again while more came in,
// a backlog that the last 250 of a stream still waited for (and beyond
// the outbox's 64 spares, each message of it a queue file created and
// later unlinked). Four alternating pairs of test/bench/smtp: eight
// connections 1206–1221 → 1297–1621 messages a second, the time from
// the last 250 to the last copy 5.8–8.9% → 2.6–3.9% of a block of 250.
// nil enough: the count is not asked.
func (a *Agent) gather(ctx context.Context, enough func() bool) bool {
	stream := a.streaming
	if stream == nil {
		stream = a.receiving
	}
	t := time.NewTimer(gatherStep)
	defer t.Stop()
	for waited := gatherStep; ; waited += gatherStep {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		if waited >= gatherWait || !stream() || (enough != nil && enough()) {
			return true
		}
		t.Reset(min(gatherStep, gatherWait-waited))
	}
}

// lingerWait bounds how long a delivery's sync waits, while the listener
// is in a stream, for a round that a session begins
// (safeio.Group.SyncSoon): over one connection, the next message ends
// with its sync about a millisecond after the last here.
const lingerWait = 2 * time.Millisecond

// drain claims and delivers everything in new/ until it is empty.
// Batch after batch, the files one batch retired are made durable out
// of cur/ by the fsync that makes the next batch's claims durable
// (deliverHolding); the last batch's are left in a.retired, for the
// next drain's first batch or for release after retireWait, unless one
// of them had copies that a retry could not find (retiredAway).
func (a *Agent) drain(ctx context.Context) {
	held := a.retired
	defer func() {
		a.retired = held
		if a.retiredAway {
			a.releaseRetired()
		}
	}()
	for batches := 0; ctx.Err() == nil && !a.stopAsked.Load(); batches++ {
		if batches > 0 && a.changeWaits != nil && a.changeWaits() {
			// The configuration changed: the next batch waits for it
			// to be read (watch.go).
			a.look = true
			return
		}
		names, err := a.box.Names("new")
		if err != nil {
			a.log.Error("read outbox", "reason", err)
			return
		}
		if len(names) == 0 {
			return
		}
		if batches > 0 && len(names) < gatherMin && a.receiving != nil && a.receiving() {
			// A stream: mail came in while the last batch was
			// delivered, and more is being received now. Wait a
			// moment for it, so that one batch's syncs serve more
			// messages; the first message after a quiet spell never
			// waits.
			if !a.gather(ctx, func() bool {
				n, err := a.box.Names("new")
				return err == nil && len(n) >= gatherMin
			}) {
				return
			}
			if names, err = a.box.Names("new"); err != nil {
				a.log.Error("read outbox", "reason", err)
				return
			}
		}
		// Names start with the arrival time: deliver in order.
		slices.Sort(names)
		var batch []*job
		claimed := false
		for _, n := range names {
			p := a.take(n)
			if p == "" {
				continue
			}
			claimed = true
			name := filepath.Base(p)
			batch = append(batch, &job{name: name, path: p, taken: n, force: a.forced[name]})
			delete(a.forced, name)
			if len(batch) == maxBatch {
				held = a.deliverHolding(ctx, batch, held, true)
				batch = nil
			}
		}
		if len(batch) > 0 {
			held = a.deliverHolding(ctx, batch, held, true)
		}
		if !claimed {
			return // what is left in new/ cannot be claimed now
		}
	}
}

// take claims new/NAME (outbox.Dir.Take) and returns its path in cur/,
// or "" when there is no new message to deliver under that name. A
// message in cur/ already is taken up from there as one that may have
// copies out, and its name in new/ dropped under its lock
// (outbox.Dir.DropClaimed): it may be a release half done, which links
// the message into new/ before it unlinks it from cur/. Once the release
// is done, it is claimed as new.
func (a *Agent) take(n string) string {
	for range 3 {
		p, err := a.box.Take(n)
		if err == nil {
			return p
		}
		if !errors.Is(err, outbox.ErrClaimed) {
			if !errors.Is(err, os.ErrNotExist) {
				a.log.Error("claim", "file", n, "reason", err)
			}
			return "" // another agent or a hold took it
		}
		_, err = a.box.DropClaimed(n)
		if errors.Is(err, os.ErrNotExist) {
			a.dropFailed(n, nil)
			continue // released meanwhile: out of cur/, back in new/
		}
		a.dropFailed(n, err)
		if _, ok := a.due[filepath.Base(p)]; !ok && !a.inflight[filepath.Base(p)] {
			a.due[filepath.Base(p)] = time.Time{}
		}
		return ""
	}
	return "" // for a later look
}

// dropFailed logs the failure, err, to drop the name n of a claimed
// message from outbox/new, once per name until it is dropped (err nil):
// the name is tried again at every look, and where the failure lasts
// (out of file descriptors) each sendmail's look logged every such name
// again, thousands of lines a second.
func (a *Agent) dropFailed(n string, err error) {
	if err == nil {
		delete(a.dropWarned, n)
		return
	}
	if a.dropWarned[n] {
		return
	}
	if a.dropWarned == nil {
		a.dropWarned = map[string]bool{}
	}
	a.dropWarned[n] = true
	a.log.Warn("drop claimed name from outbox/new", "file", n, "reason", err, "note", "not logged again for this name until it is dropped")
}

// runDue delivers the claimed messages whose time has come.
func (a *Agent) runDue(ctx context.Context) {
	now := a.now()
	var batch []*job
	for n, d := range a.due {
		if d.After(now) {
			continue
		}
		if a.inflight[n] {
			continue // its smarthost copies are out: due when they are back
		}
		delete(a.due, n)
		batch = append(batch, &job{name: n, path: a.box.Path("cur", n), recovered: true, force: a.forced[n],
			forceRemote: a.forcedRemote[n], forceLocal: a.forcedLocal[n]})
		delete(a.forced, n)
		delete(a.forcedRemote, n)
		delete(a.forcedLocal, n)
		if len(batch) == maxBatch {
			a.deliver(ctx, batch)
			batch = nil
		}
	}
	if len(batch) > 0 {
		a.deliver(ctx, batch)
	}
}

// qualify makes a bare local name a full address for trace headers.
func (a *Agent) qualify(addr string) string { return qualifyAt(addr, a.cfg.Hostname) }

// qualifyAt is qualify with the host name given: the smarthost's worker
// has the one read in the loop when the delivery was handed to it, and
// must not read a.cfg, which a reload replaces meanwhile.
func qualifyAt(addr, host string) string {
	if addr == "" || strings.Contains(addr, "@") {
		return addr
	}
	return addr + "@" + host
}
