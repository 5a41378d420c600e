package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"homepost/courier"
	"homepost/forwarder"
	"homepost/maildir"
	"homepost/outbox"
	"homepost/safeio"
)

// job is one queue file in a batch.
type job struct {
	name      string // file name in cur/
	path      string
	taken     string // its name in new/, to drop once the claim is durable (outbox.Dir.Take)
	recovered bool   // taken up from cur/: copies may exist already
	aside     bool   // unreadable, moved out of the queue (setAside)
	force     bool   // flush: deferred recipients are due now
	m         *outbox.Message
	dt        map[string]bool // Delivered-To addresses, lowercased
	hops      int             // Received fields in the header
	recs      []outbox.Record // results to record
	delay     time.Duration   // retry after this long (a failure of our own)
	bounced   []int           // recipients bounced in this attempt
	// bouncedAt is the target each bounced recipient failed at, for
	// the DSN to name the address refused.
	bouncedAt map[int]forwarder.Target
	dsn       bool // a DSN was stored in this attempt
	away      bool // a copy went to a command or the smarthost

	// forceRemote: deferred recipients that go to the smarthost are due
	// now (the [relay] configuration changed); forceLocal: those that
	// do not (the store, aliases or .forward changed).
	forceRemote bool
	forceLocal  bool

	// hold: homepost queue hold asked for the hold of the message while
	// this delivery had it (outbox.Dir.AskHold); finish records it.
	hold bool
}

// forcedFor reports whether a deferred recipient whose copy goes to the
// smarthost (remote) or elsewhere is due now for a reload.
func (j *job) forcedFor(remote bool) bool {
	if remote {
		return j.forceRemote
	}
	return j.forceLocal
}

// body returns the queued message from its first byte.
func (j *job) body() io.Reader { return j.m.Body() }

// send is one recipient's copy in a batch, on its way to a courier.
type send struct {
	j    *job
	idx  int              // the recipient
	t    forwarder.Target // what it resolved to
	kind forwarder.Kind   // the courier: Store is Maildir or Mbox here
	c    *courier.Copy
	// dup is the next recipient of the same job whose copy goes to the
	// same place: it waits for this one's result.
	dup *send
	// early: the smarthost took the copy, and its result is recorded
	// already (journalSent).
	early bool
	// held: not sent, as the message's hold was asked for before the
	// delivery began (heldBack); it has no result.
	held bool
}

// couriers is the order in which a batch visits the couriers: local
// copies first, so that they are durable before anything leaves the
// host; the smarthost last.
var couriers = []forwarder.Kind{forwarder.Maildir, forwarder.Mbox, forwarder.Command, forwarder.Remote}

// deliver runs one batch: every copy is resolved first, then each
// courier gets all the copies of its kind at once (one sync for all the
// Maildir copies of the batch, one connection to the smarthost), then
// the journal is written.
//
// Two syncs of outbox/cur/ frame the batch (group commit: one each,
// whatever the batch's size). The first makes the claims durable before
// any copy takes effect: after a power loss, a message with copies out
// must be in cur/, where it is taken up as possibly delivered, never
// back in new/ as if it were new. It is shared with the Maildir copies'
// own sync where it can be (courier.Claims). The second makes the
// retirements of the finished queue files durable before they become
// spares that the next sendmail refills.
func (a *Agent) deliver(ctx context.Context, batch []*job) {
	a.release(a.deliverHolding(ctx, batch, nil, false))
}

// deliverHolding runs one batch as deliver does, but leaves the second
// fsync of cur/ to the caller: it returns the queue files it retired
// (renamed out of cur/ into tmp/, still open), for release, or for the
// next batch of a stream to pass back as prev. prev are the files the
// batch before retired: the fsync of cur/ that makes this batch's claims
// durable makes their retirements durable too (one directory, one
// fsync), and they are recycled once it returned. A stream of mail thus
// pays one fsync of cur/ per batch instead of two.
//
// Why that is enough: a retired file that is not yet known to be out of
// cur/ durably is only kept from being recycled; its copies are durable
// already (they were before it was retired), so a power loss that undid
// the rename puts it back in cur/, where the next start takes it up as
// possibly delivered and finds every copy (Maildir copies by name, mbox
// copies by their marks) without storing one twice. What must not happen
// is a spare refilled by a sendmail while its old name may come back in
// cur/: recycling waits for the fsync, as before.
//
// With pipe (a drain's batches), the batch also leaves the sync of the
// Maildir new/ directories its copies were renamed into to the next
// batch (courier.Published), when none of its messages had a copy for a
// command or the smarthost: its jobs wait in a.published, unfinished
// (no result recorded, nothing retired), and the next batch's claims
// are made durable with those directories by one sync, after which the
// jobs are finished and their files retired. No batch coming, settle
// does it. A sendmail at a time then costs the agent one flush of the
// disk per message.
func (a *Agent) deliverHolding(ctx context.Context, batch []*job, prev []*outbox.Message, pipe bool) []*outbox.Message {
	// The claims are made durable by the first step that needs them:
	// the Maildir courier's sync of its copies, or before any other
	// courier starts (courier.Claims), or below. The Maildir new/
	// directories of the batch before are made durable with them.
	var before *published
	if pipe {
		before, a.published = a.published, nil
		a.batches++
	}
	// The names the last batches dropped from new/ are made durable by
	// the same sync, before prev is recycled below (where the sync is
	// a syncfs, it covers them anyway).
	dirs := append([]string{a.box.Path("cur")}, before.dirsOf()...)
	dropped := a.newDropped.Swap(false)
	if dropped {
		dirs = append(dirs, a.box.Path("new"))
	}
	claims := courier.NewClaims(dirs...)
	ctx = courier.WithClaims(ctx, claims)
	var live []*job
	var round []*send
	var taken, others []string
	asked := a.box.AskedHolds() // one failed open when none is
	for _, j := range batch {
		err := a.open(j, asked[outbox.ID(j.name)])
		switch {
		case j.taken == "":
			// Taken up from cur/: a name of it left in new/ goes
			// with the batch's, under the lock the agent now holds.
			if err == nil {
				if n := a.box.Leftover(j.m); n != "" {
					taken = append(taken, n)
				}
			}
		case err == nil || j.aside:
			taken = append(taken, j.taken)
		default:
			others = append(others, j.taken)
		}
		if err != nil {
			continue
		}
		sends := a.plan(j)
		for _, sd := range sends {
			j.away = j.away || sd.kind == forwarder.Command || sd.kind == forwarder.Remote
		}
		round = append(round, sends...)
		live = append(live, j)
	}
	// A batch with a copy for a command or the smarthost syncs its
	// Maildirs' new/ itself, before those couriers start (local copies
	// are durable before anything leaves the host) and its results are
	// recorded at once.
	var pub *courier.Published
	if pipe && !slices.ContainsFunc(live, func(j *job) bool { return j.away }) {
		pub = &courier.Published{}
		ctx = courier.WithPublished(ctx, pub)
	}
	// Once the claims are durable, their names leave new/
	// (outbox.Dir.Take), and so do names that messages taken up from
	// cur/ left there (outbox.Dir.Leftover): before the first copy is
	// published. Those of
	// messages not open under the agent's lock (held, busy, gone from
	// cur/) only under their lock (outbox.Dir.DropClaimed): a release
	// may be giving one back to new/, by a link before its unlink from
	// cur/, and a name dropped in between leaves it in no directory.
	if len(taken)+len(others) > 0 {
		claims.Then(func() {
			if err := a.box.Drop(taken...); err != nil {
				a.log.Warn("drop claimed names from outbox/new", "reason", err)
			}
			for _, n := range others {
				_, err := a.box.DropClaimed(n)
				if errors.Is(err, os.ErrNotExist) {
					err = nil
				}
				a.dropFailed(n, err)
			}
			a.newDropped.Store(true)
		})
	}
	for len(round) > 0 {
		round = a.dispatch(ctx, round)
	}
	outgoing, via := a.outgoing, a.outgoingVia
	a.outgoing, a.outgoingVia = nil, nil
	if err := claims.Sync(); err != nil {
		// Nothing took effect: no copy was published, no courier
		// started. Try the whole batch again later.
		if dropped {
			a.newDropped.Store(true)
		}
		a.log.Error("sync outbox", "reason", err)
		for _, j := range live {
			j.m.Close()
			a.schedule(j, a.now().Add(time.Minute))
		}
		// Not known to be durable: left in tmp/, where the next start
		// recycles them after syncing cur/ (outbox.Dir.Tidy).
		for _, m := range prev {
			m.Close()
		}
		// Copies published, not known to be durable: tried again as
		// possibly delivered (found by name, or written anew).
		for _, j := range before.jobsOf() {
			j.m.Close()
			a.schedule(j, a.now().Add(time.Minute))
		}
		return nil
	}
	// After the copies, so that they are not kept waiting for it.
	a.recycle(prev)
	var retired []*outbox.Message
	for _, j := range before.jobsOf() {
		retired = a.finishInto(retired, j)
	}
	if dirs := pub.Dirs(); len(dirs) > 0 {
		a.published = &published{jobs: live, dirs: dirs}
		return retired
	}
	// A job with copies out to the smarthost is finished when they are
	// back (remote.go); its local copies are durable already.
	away := map[*job]bool{}
	for _, sd := range outgoing {
		away[sd.j] = true
	}
	// While a switch of outbox waits for the deliveries out (move.go),
	// no other starts from the old outbox: each would keep the smarthost
	// busy and the switch waiting. Its jobs are finished with their
	// local results, and their smarthost copies go out once the switch
	// is made, from the new outbox.
	wait := len(outgoing) > 0 && a.mv.to != ""
	// As many deliveries to the smarthost out as remoteOutLimit: the
	// copies of more wait in the backlog, their jobs finished with
	// their local results and their files closed (remote.go).
	full := len(outgoing) > 0 && !wait && a.async && a.remoteOut >= remoteOutLimit
	for _, j := range live {
		if !away[j] || wait || full {
			retired = a.finishInto(retired, j)
		}
	}
	switch {
	case wait:
		a.waitForSwitch(jobsOf(outgoing))
	case full:
		a.toBacklog(outgoing)
	case len(outgoing) > 0:
		a.sendRemote(ctx, outgoing, via)
	}
	return retired
}

// finishInto finishes j and adds its file to retired if it was retired.
func (a *Agent) finishInto(retired []*outbox.Message, j *job) []*outbox.Message {
	if !a.finish(j) {
		return retired
	}
	// A retirement lost in a power loss sends its command and
	// smarthost copies, and its bounces, again: those get their fsync
	// of cur/ when the drain ends (drain).
	a.retiredAway = a.retiredAway || j.away || len(j.bounced) > 0 || j.dsn
	return append(retired, j.m)
}

// published is a batch whose Maildir copies are in new/ but not yet
// known to be durable there (deliverHolding): its jobs are finished once
// dirs are synced.
type published struct {
	jobs []*job
	dirs []string
}

func (p *published) dirsOf() []string {
	if p == nil {
		return nil
	}
	return p.dirs
}

func (p *published) jobsOf() []*job {
	if p == nil {
		return nil
	}
	return p.jobs
}

// settle finishes what the last drain left waiting: the batch whose
// Maildir new/ directories are not yet synced (a.published) is synced
// and finished, and every retirement made durable and recycled.
func (a *Agent) settle() {
	if p := a.published; p != nil {
		a.published = nil
		if err := safeio.Shared.Sync(nil, p.dirs); err != nil {
			a.log.Error("sync maildir", "reason", err)
			for _, j := range p.jobs {
				j.m.Close()
				a.schedule(j, a.now().Add(time.Minute))
			}
		} else {
			for _, j := range p.jobs {
				a.retired = a.finishInto(a.retired, j)
			}
		}
	}
	a.releaseRetired()
}

// release makes the retirements of ms durable (an fsync of cur/) and
// recycles the files. The names dropped from new/ are made durable by
// the same sync: a file recycled while a power loss could still bring
// its old name back in new/ would be read there with the next message
// written into it.
func (a *Agent) release(ms []*outbox.Message) {
	if len(ms) == 0 {
		return
	}
	dirs := []string{a.box.Path("cur")} // as outbox.Dir.SyncClaims
	dropped := a.newDropped.Swap(false)
	if dropped {
		dirs = append(dirs, a.box.Path("new"))
	}
	if err := safeio.Shared.Sync(nil, dirs); err != nil {
		if dropped {
			a.newDropped.Store(true)
		}
		// Not known to be durable: leave them in tmp/, where the next
		// start recycles them after syncing cur/ (outbox.Dir.Tidy).
		a.log.Error("sync outbox", "reason", err)
		for _, m := range ms {
			m.Close()
		}
		return
	}
	a.recycle(ms)
}

// recycle makes retired queue files, whose retirement is durable,
// spares for the next sendmail.
func (a *Agent) recycle(ms []*outbox.Message) {
	if len(ms) == 0 {
		return
	}
	if err := outbox.Recycle(ms...); err != nil {
		a.log.Warn("recycle queue files", "reason", err)
	}
}

// open reads the queue file of j. An unreadable file is moved aside, out
// of the queue, and reported: it is never deleted. asked: homepost queue
// hold asked for its hold (outbox.Dir.AskHold), which is recorded now,
// under the lock.
func (a *Agent) open(j *job, asked bool) error {
	m, err := outbox.OpenLocked(j.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return err // deleted by "homepost queue delete"
		}
		if errors.Is(err, outbox.ErrNotRegular) {
			a.setAside(j, err) // a FIFO, a link, a directory: not mail
			return err
		}
		if errors.Is(err, outbox.ErrBusy) {
			a.schedule(j, a.now().Add(time.Second))
			return err
		}
		if isSystemError(err) {
			// Out of file descriptors, memory, an I/O error: the file
			// may be fine; try again later.
			a.log.Warn("open queue file", "file", j.path, "reason", err)
			a.schedule(j, a.now().Add(time.Minute))
			return err
		}
		a.setAside(j, err)
		return err
	}
	if m.JournalErr != nil {
		a.log.Warn("queue file journal", "id", m.ID, "reason", m.JournalErr)
	}
	j.m = m
	// A message released from hold comes back through new/, but may
	// have been delivered in part before: look for its copies.
	j.recovered = j.recovered || m.Journaled()
	if asked {
		if _, err := a.box.TakeAskedHold(m); err != nil {
			// Not delivered: the request stands, and is taken up
			// at the next look.
			a.log.Error("record the hold asked for", "id", m.ID, "reason", err)
			m.Close()
			a.schedule(j, a.now().Add(time.Minute))
			return err
		}
	}
	if m.Env.Held {
		m.Close()
		return errors.New("held")
	}
	j.dt, j.hops = traceOf(m.Body())
	return nil
}

// isSystemError tells a failure of the system (a file that could not be
// opened or read) from a queue file whose content is wrong.
func isSystemError(err error) bool {
	var pe *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &errno)
}

// setAside moves an unreadable queue file to StateDir/corrupt/ so that it
// stops blocking the queue and can be inspected.
func (a *Agent) setAside(j *job, err error) {
	dir := filepath.Join(a.cfg.StateDir, "corrupt")
	os.MkdirAll(dir, 0o700)
	dst := filepath.Join(dir, j.name)
	if rerr := os.Rename(j.path, dst); rerr != nil {
		dst = j.path
	} else {
		j.aside = true
	}
	a.log.Error("unreadable queue file set aside", "file", dst, "reason", err)
}

// hopLimit is the number of Received fields at which a message is
// taken to be in a loop and bounced, as Postfix's hopcount_limit (50).
// Every copy that homepost hands on to the smarthost or an exec:
// program carries a Received field of its own (remoteCopy), so a
// message that comes back around any loop (homepost's own sendmail as
// the exec: program, the relay url naming the agent's own listener, a
// real MTA that hands the mail back) gains one per pass and ends here:
// at a thousand passes a second, within a twentieth of a second.
const hopLimit = 50

// traceOf returns the lowercased addresses of the Delivered-To fields
// in a message's header section (read up to 1 MB), for loop detection,
// and the number of its Received fields, for the hop limit.
func traceOf(r io.Reader) (dt map[string]bool, hops int) {
	br := bufio.NewReaderSize(io.LimitReader(r, 1<<20), 4096)
	dt = map[string]bool{}
	cont := false // the line before was cut at the buffer's size
	for {
		line, err := br.ReadSlice('\n')
		if len(line) == 0 || (len(line) == 1 && line[0] == '\n' && !cont) {
			break
		}
		if !cont {
			if len(line) > 13 && strings.EqualFold(string(line[:13]), "Delivered-To:") {
				dt[strings.ToLower(strings.Trim(strings.TrimSpace(string(line[13:])), "<>"))] = true
			}
			if len(line) >= 9 && strings.EqualFold(string(line[:9]), "Received:") {
				hops++
			}
		}
		cont = err == bufio.ErrBufferFull
		if err != nil && err != bufio.ErrBufferFull {
			break
		}
	}
	return dt, hops
}

// loops bounces every recipient of j not yet done with 5.4.6 when its
// header has hopLimit Received fields or more: it came around a loop,
// and another pass would only add one more. Whether a recipient's retry
// is due does not matter: the message will never be delivered.
func (a *Agent) loops(j *job) bool {
	if j.hops < hopLimit {
		return false
	}
	env := j.m.Env
	for i, r := range env.Rcpts {
		if r.Status.Done() || r.Status == outbox.Bouncing {
			continue
		}
		t := forwarder.Target{Kind: forwarder.Fail, Via: r.Addr}
		if r.Parent >= 0 {
			t = forwarder.ParseSpec(r.Addr, r.Via)
		}
		a.result(j, i, t, courier.Perm("5.4.6", "too many hops (%d Received fields): mail loop", j.hops))
	}
	return true
}

// plan resolves every due recipient of j into the copies to deliver.
// A recipient that resolves to a failure gets its result at once.
//
// Duplicate elimination, as Postfix's local(8) does: two recipients that
// lead to the same place (root and postmaster, both aliased to the
// user) get one copy. The second waits behind the first (send.dup) and
// is tried itself only if the first fails.
func (a *Agent) plan(j *job) []*send {
	if !a.writeUnwritten(j) {
		// The results of the last attempt are not written yet
		// (journal.go): deliver nothing, try again in a minute.
		j.delay = time.Minute
		return nil
	}
	if a.loops(j) {
		return nil
	}
	now := a.now()
	if !a.reexpand(j, now) {
		return nil
	}
	env := j.m.Env
	var out []*send
	last := map[string]*send{} // the last copy to each place
	defer func() { a.traceRemote(j, out) }()
	for i := 0; i < len(env.Rcpts); i++ {
		r := env.Rcpts[i]
		if r.Status.Done() || r.Status == outbox.Bouncing {
			// Bouncing: failed for good, its DSN waits (finish).
			continue
		}
		// Not due yet: unless forced, or a remote one forced by a
		// change of the smarthost, a local one by a change of where
		// local mail goes.
		wait := r.Status == outbox.Deferred && notYet(r.Next, now) && !j.force
		if wait && !j.forceRemote && !j.forceLocal {
			continue
		}
		var t forwarder.Target
		if r.Parent >= 0 {
			// As journaled, unless the line of a directory that is
			// no Maildir now ends with '/' (forwarder.Current).
			t = a.fwd.Current(forwarder.ParseSpec(r.Addr, r.Via), env.Rcpts[r.Parent].Addr, j.dt)
		} else {
			ts := a.fwd.Resolve(r.Addr, j.dt)
			if wait && !j.forcedFor(len(ts) == 1 && ts[0].Kind == forwarder.Remote) {
				continue
			}
			if len(ts) == 0 {
				ts = []forwarder.Target{{Kind: forwarder.Fail, Via: r.Addr,
					Result: courier.Perm("5.1.1", "%s: no delivery target", r.Addr)}}
			}
			if len(ts) > 1 {
				// Record the expansion before delivering, so that a
				// crash cannot change what the copies are for.
				x := outbox.Record{Kind: 'x', Idx: i}
				for _, t := range ts {
					x.Targets = append(x.Targets, outbox.Target{Addr: t.Spec(), Via: t.Via})
				}
				if err := j.m.Append(x); err != nil {
					a.log.Error("record expansion", "id", j.m.ID, "reason", err)
					j.delay = time.Minute
					return out
				}
				continue // the children follow in this loop
			}
			t = ts[0]
		}
		if wait && !j.forcedFor(t.Kind == forwarder.Remote) {
			continue
		}
		switch t.Kind {
		case forwarder.Fail:
			a.result(j, i, t, t.Result)
			continue
		case forwarder.Remote:
			out = append(out, a.remoteCopy(j, i, t))
			continue
		}
		s := a.localCopy(j, i, t)
		if _, ok := a.couriers[s.kind]; !ok {
			a.result(j, i, t, courier.Perm("5.3.0", "unknown target %q", t.Spec()))
			continue
		}
		key := fmt.Sprint(int(t.Kind), "\x00", t.Value)
		if prev, ok := last[key]; ok {
			prev.dup = s
			last[key] = s
			continue
		}
		last[key] = s
		out = append(out, s)
	}
	return out
}

// copyName is the Maildir name of recipient i's copy: the queue file's
// unique part plus the index, so a retry can find it.
func copyName(queueName string, i int) string {
	base, _, _ := strings.Cut(queueName, ":")
	sec, rest, _ := strings.Cut(base, ".")
	id, host, _ := strings.Cut(rest, ".")
	return fmt.Sprintf("%s.%sR%d.%s", sec, id, i, host)
}

// localCopy makes recipient i's copy for the store, a file, a Maildir or
// a command, with its trace header.
func (a *Agent) localCopy(j *job, i int, t forwarder.Target) *send {
	env := j.m.Env
	orig := env.Original(i)
	via := a.qualify(t.Via)
	if t.Kind == forwarder.Store && t.Value != "" {
		// As Postfix's local(8): the store's copy is delivered to the
		// user that the aliases led to; X-Original-To keeps the
		// address it was sent to.
		via = a.qualify(t.Value)
	}
	kind, to := t.Kind, t.Value
	if kind == forwarder.Store {
		kind, to = a.store()
	}
	now := a.now()
	var mark func(maildir.Mark) error
	var marked *maildir.Mark
	if kind == forwarder.Mbox {
		mark, marked = j.marker(i, to, env.Rcpts[i].Mark)
		if marked != nil {
			// The retry of a copy an earlier attempt marked: the
			// same trace and From line, so that the copy can be
			// found whole where a reader's rewrite moved it.
			now = marked.Time
		}
	}
	trace := courier.Trace{Sender: env.Sender, DeliveredTo: via, ID: j.m.ID, Host: a.cfg.Hostname, Time: now}
	hdr := trace.Header()
	if o := a.qualify(orig); !strings.EqualFold(o, via) {
		hdr = append(hdr, "X-Original-To: "+o+"\n"...)
	}
	c := &courier.Copy{
		ID: j.m.ID, Name: copyName(j.name, i), Sender: env.Sender, To: to, Rcpt: via, Orig: orig,
		Header: hdr, Body: j.body, Size: j.m.Size, Time: now, Recovered: j.recovered,
		Mark: mark, Marked: marked,
	}
	parentCopy(j, i, kind, c)
	return &send{j: j, idx: i, t: t, kind: kind, c: c}
}

// marker gives an mbox copy of recipient idx (outbox.DSNIdx: the DSN)
// what it needs to be recovered by record: a Mark function that writes
// the courier's mark in the journal, durably, before the append, and the
// mark an earlier attempt wrote for the same mbox.
func (j *job) marker(idx int, path string, prev *outbox.Mark) (func(maildir.Mark) error, *maildir.Mark) {
	mark := func(m maildir.Mark) error {
		return j.m.Append(outbox.MarkRecord(idx, &outbox.Mark{Path: path, Off: m.Off, Len: m.Len, Sum: m.Sum, Time: m.Time}))
	}
	if prev == nil || prev.Path != path {
		return mark, nil
	}
	return mark, &maildir.Mark{Off: prev.Off, Len: prev.Len, Sum: prev.Sum, Time: prev.Time}
}

// remoteCopy makes recipient i's copy for the smarthost. A copy
// forwarded by an alias or ~/.forward goes to the address it resolved to
// and carries Delivered-To for the address that forwarded it, so that a
// loop through a remote forwarder is caught when the copy comes back.
func (a *Agent) remoteCopy(j *job, i int, t forwarder.Target) *send {
	var prefix []byte
	if r := j.m.Env.Rcpts[i]; r.Parent >= 0 || !strings.EqualFold(t.Value, r.Addr) {
		prefix = []byte("Delivered-To: " + a.qualify(t.Via) + "\n")
	}
	return &send{j: j, idx: i, t: t, kind: forwarder.Remote, c: &courier.Copy{
		ID: j.m.ID, Sender: j.m.Env.Sender, To: t.Value, Rcpt: t.Value, Orig: j.m.Env.Original(i),
		Header: prefix, Body: j.body, Size: j.m.Size, Time: a.now(), Recovered: j.recovered,
		DSN: courier.DSNRequest{Notify: j.m.Env.Opts["notify"], Ret: j.m.Env.Opts["ret"], EnvID: j.m.Env.Opts["envid"]},
	}}
}

// traceRemote puts a Received field on top of j's copies for the
// smarthost among sends: one for all, so that they still share a
// transaction, naming the recipient when there is one only, as
// Postfix's cleanup does. A message that comes back to homepost (by
// the exec: program or the listener) then has one more Received field
// each time round a loop, and the hop limit ends it (loops). The
// message itself is not touched: DKIM signatures cover no Received
// field.
func (a *Agent) traceRemote(j *job, sends []*send) {
	var remote []*send
	for _, s := range sends {
		if s.kind == forwarder.Remote {
			remote = append(remote, s)
		}
	}
	if len(remote) == 0 {
		return
	}
	b := make([]byte, 0, 128)
	b = append(b, "Received: by "...)
	b = append(b, a.cfg.Hostname...)
	b = append(b, " (homepost) id "...)
	b = append(b, j.m.ID...)
	if len(remote) == 1 {
		b = append(b, "\n\tfor <"...)
		b = append(b, remote[0].c.Rcpt...)
		b = append(b, '>')
	}
	b = append(b, "; "...)
	b = a.now().AppendFormat(b, time.RFC1123Z)
	b = append(b, '\n')
	for _, s := range remote {
		s.c.Header = append(b[:len(b):len(b)], s.c.Header...)
	}
}

// store is the courier and path of the user's local store.
func (a *Agent) store() (forwarder.Kind, string) {
	k, p := a.cfg.StoreKind()
	if k == "mbox" {
		return forwarder.Mbox, p
	}
	return forwarder.Maildir, p
}

// claimSync makes the claims durable before a courier other than the
// Maildir one starts; the Maildir courier does it with its copies.
func claimSync(ctx context.Context, kind forwarder.Kind) error {
	if kind == forwarder.Maildir {
		return nil
	}
	return courier.SyncClaims(ctx)
}

// journalRoom is the journal room made per copy before a message's
// copies go to a command or the smarthost: a result record with a long
// reply.
const journalRoom = 1024

// reserveRoom makes room in the journal of each message of round that
// has a copy for a command or the smarthost, for the results of all its
// copies in the round (outbox.Message.Reserve) and for the results it
// holds already (plan's, for recipients that need no courier: /dev/null,
// a failure), which are appended before those couriers start
// (recordLocal): left out, a hundred recipients discarded to /dev/null
// spent the room, and the smarthost's "sent" went unrecorded. It
// returns the messages without it (a full disk). Such a copy is not handed over: a result
// that the journal could not take is known only to the running agent
// (unwritten), and an agent started after it would send the copy again.
// Copies to a Maildir or an mbox need no room: a retry finds them.
func (a *Agent) reserveRoom(round []*send) map[*job]error {
	risky := map[*job]bool{}
	for _, s := range round {
		if s.kind == forwarder.Command || s.kind == forwarder.Remote {
			risky[s.j] = true
		}
	}
	if len(risky) == 0 {
		return nil // local copies only: the delivery loop's hot path
	}
	count := map[*job]int{}
	for _, s := range round {
		count[s.j]++
	}
	var out map[*job]error
	for j := range risky {
		if err := j.m.Reserve(int64(count[j]+1)*journalRoom + heldRoom(j)); err != nil {
			if out == nil {
				out = map[*job]error{}
			}
			out[j] = err
		}
	}
	return out
}

// heldRoom is the journal room that the results j holds already take:
// each as it is, and a bounce twice more, as bounces writes it before
// its DSN (Bouncing, its reason with a note) and after (Bounced). The
// copies of the round have journalRoom each for theirs; eighty local
// recipients unknown beside a command spent the command's room with
// their notes, and the command ran again at each restart.
func heldRoom(j *job) int64 {
	n := outbox.Size(j.recs...)
	for _, r := range j.recs {
		if r.Kind == 's' && r.Status == outbox.Bounced {
			n += 2*outbox.Size(r) + bounceRoom
		}
	}
	return n
}

// bounceRoom bounds the note a Bouncing record's reason gets (bounces):
// "; the bounce cannot be stored: " and the error, escaped.
const bounceRoom = 512

// dispatch hands the copies of one round to their couriers, kind by
// kind, records the results, and returns the next round: the duplicates
// whose first copy failed, to be tried themselves.
func (a *Agent) dispatch(ctx context.Context, round []*send) []*send {
	var next []*send
	noRoom := a.reserveRoom(round)
	for _, kind := range couriers {
		var sends []*send
		var copies []*courier.Copy
		for _, s := range round {
			if s.kind != kind {
				continue
			}
			if err := noRoom[s.j]; err != nil && (kind == forwarder.Command || kind == forwarder.Remote) {
				// Not handed over: its result could not be
				// recorded, and the next agent would send it again.
				a.result(s.j, s.idx, s.t, courier.Temp("4.3.1", "not tried: %v", err))
				if s.dup != nil {
					next = append(next, s.dup)
				}
				continue
			}
			sends = append(sends, s)
			copies = append(copies, s.c)
		}
		if len(sends) == 0 {
			continue
		}
		var results []courier.Result
		if err := claimSync(ctx, kind); err != nil {
			// Its copies take effect at once: not before the claims
			// are durable.
			for range copies {
				results = append(results, courier.Temp("4.3.0", "%v", err))
			}
		} else if kind == forwarder.Remote && a.async {
			// The smarthost's copies go out from a goroutine once the
			// batch's local ones are done (deliverHolding, remote.go).
			// Remote copies have no duplicates waiting behind them.
			a.outgoing = append(a.outgoing, sends...)
			a.outgoingVia = a.couriers[kind]
			continue
		} else {
			dctx, where := ctx, ""
			if kind == forwarder.Remote {
				// What homepost queue hold asked to hold meanwhile is
				// not sent (heldBack).
				if sends = heldBack(a.box, sends); len(sends) == 0 {
					continue
				}
				copies = copies[:0]
				for _, s := range sends {
					copies = append(copies, s.c)
				}
				dctx = courier.WithSettled(ctx, func(idx []int, res []courier.Result) { a.journalSent(sends, idx, res, a.cfg.Hostname) })
				// As in the daemon's worker: the local results are
				// recorded before the smarthost, which may take
				// minutes, and mailq says what is out.
				a.recordLocal(jobsOf(sends))
				if where = a.sendingWhere(a.couriers[kind]); where != "" {
					a.showSending(sendingPath(a.cfg), sends, where)
				}
			}
			var stopped func()
			if kind == forwarder.Remote {
				dctx, stopped = a.stopOnce(dctx)
			}
			results = a.couriers[kind].Deliver(dctx, copies)
			if stopped != nil {
				stopped()
			}
			if where != "" {
				a.showSending(sendingPath(a.cfg), nil, "")
			}
		}
		for n, s := range sends {
			if s.early {
				continue // recorded as the smarthost took it
			}
			res := courier.Temp("4.3.0", "no result for this copy")
			if n < len(results) {
				res = results[n]
			}
			a.result(s.j, s.idx, s.t, res)
			if s.dup == nil {
				continue
			}
			switch res.Status {
			case outbox.Sent, outbox.Pending:
				// Sent: the others have their copy. Pending: whether
				// it is stored is not known; the retry tells for all.
				for d := s.dup; d != nil; d = d.dup {
					r := res
					if res.Status == outbox.Sent {
						r = courier.OK("duplicate of " + d.j.m.Env.Original(s.idx))
					}
					a.result(d.j, d.idx, d.t, r)
				}
			default:
				// The next one is tried itself; the rest wait behind it.
				next = append(next, s.dup)
			}
		}
	}
	return next
}

// heldBack returns the sends whose message's hold homepost queue hold
// has not asked for (outbox.Dir.AskHold), and marks the others held: a
// delivery that has not begun sends nothing of a message held while it
// waited its turn. The hold is recorded as the message's job is
// finished. One failed open when no hold is asked for.
func heldBack(box outbox.Dir, sends []*send) []*send {
	asked := box.AskedHolds()
	if len(asked) == 0 {
		return sends
	}
	var keep []*send
	for _, s := range sends {
		if asked[s.j.m.ID] {
			s.held, s.j.hold = true, true
			continue
		}
		keep = append(keep, s)
	}
	return keep
}
