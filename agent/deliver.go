package agent

import (
	"bufio"
	"bytes"
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
	recovered bool // taken up from cur/: copies may exist already
	force     bool // flush: deferred recipients are due now
	m         *outbox.Message
	dt        map[string]bool     // Delivered-To addresses, lowercased
	recs      []outbox.Record     // results to record
	remote    []remote            // recipients for the smarthost
	delay     time.Duration       // retry after this long (a failure of our own)
	inDir     map[int]maildir.Dir // the Maildir each recipient's copy went to
	effects   bool                // a command ran or a remote copy went out
	bounced   []int               // recipients bounced in this attempt
}

// remote is a recipient that goes to the smarthost, with the address it
// resolved to.
type remote struct {
	idx int
	t   forwarder.Target
}

// deliver runs one batch: local copies first, one fsync per Maildir for
// the whole batch (group commit), then the smarthost, then the journal.
func (a *Agent) deliver(ctx context.Context, batch []*job) {
	syncs := map[maildir.Dir]bool{}
	var live []*job
	for _, j := range batch {
		if err := a.open(j); err != nil {
			continue
		}
		a.local(ctx, j, syncs)
		live = append(live, j)
	}
	// Make the local copies durable before recording them. A Maildir
	// that cannot be synced has its results forgotten: those copies are
	// looked for, and synced, at the retry; everything else (mbox
	// copies, commands that ran) is recorded, so that it is not done
	// twice.
	for d := range syncs {
		if err := d.Sync(); err != nil {
			a.log.Error("sync maildir", "dir", string(d), "reason", err)
			for _, j := range live {
				j.forget(d)
			}
		}
	}
	a.sendRemote(ctx, live)
	syncCur := false
	for _, j := range live {
		if a.finish(j) && j.effects {
			syncCur = true
		}
	}
	if syncCur {
		// A removal lost in a crash would make a command run again or
		// a remote copy go out twice: make it durable, once per batch.
		if err := safeio.SyncDir(a.box.Path("cur")); err != nil {
			a.log.Error("sync outbox", "reason", err)
		}
	}
}

// forget drops the results of the copies stored in the Maildir d, and
// has the message tried again in a minute.
func (j *job) forget(d maildir.Dir) {
	keep := j.recs[:0]
	for _, r := range j.recs {
		if j.inDir[r.Idx] != d {
			keep = append(keep, r)
			continue
		}
		j.delay = time.Minute
		j.bounced = slices.DeleteFunc(j.bounced, func(i int) bool { return i == r.Idx })
	}
	j.recs = keep
}

// open reads the queue file of j. An unreadable file is moved aside, out
// of the queue, and reported: it is never deleted.
func (a *Agent) open(j *job) error {
	m, err := outbox.OpenLocked(j.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return err // deleted by "homepost queue delete"
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
	if m.Env.Held {
		m.Close()
		return errors.New("held")
	}
	j.dt = deliveredTo(m.Body())
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
	}
	a.log.Error("unreadable queue file set aside", "file", dst, "reason", err)
}

// deliveredTo returns the lowercased addresses of the Delivered-To fields
// in a message's header section (read up to 1 MB), for loop detection.
func deliveredTo(r io.Reader) map[string]bool {
	br := bufio.NewReaderSize(io.LimitReader(r, 1<<20), 4096)
	dt := map[string]bool{}
	for {
		line, err := br.ReadSlice('\n')
		if len(line) == 0 || (len(line) == 1 && line[0] == '\n') {
			break
		}
		if len(line) > 13 && strings.EqualFold(string(line[:13]), "Delivered-To:") {
			dt[strings.ToLower(strings.Trim(strings.TrimSpace(string(line[13:])), "<>"))] = true
		}
		if err != nil && err != bufio.ErrBufferFull {
			break
		}
	}
	return dt
}

// local delivers every due recipient that does not go to the smarthost.
func (a *Agent) local(ctx context.Context, j *job, syncs map[maildir.Dir]bool) {
	env := j.m.Env
	now := a.now()
	// Duplicate elimination, as Postfix's local(8) does: two recipients
	// that lead to the same place (root and postmaster, both aliased to
	// the user) get one copy.
	delivered := map[string]int{}
	for i := 0; i < len(env.Rcpts); i++ {
		r := env.Rcpts[i]
		if r.Status.Done() || (r.Status == outbox.Deferred && r.Next.After(now) && !j.force) {
			continue
		}
		var t forwarder.Target
		if r.Parent >= 0 {
			t = forwarder.ParseSpec(r.Addr, r.Via)
		} else {
			ts := a.fwd.Resolve(r.Addr, j.dt)
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
					return
				}
				continue // the children follow in this loop
			}
			t = ts[0]
		}
		if t.Kind == forwarder.Remote {
			j.remote = append(j.remote, remote{idx: i, t: t})
			continue
		}
		key := fmt.Sprint(int(t.Kind), "\x00", t.Value)
		if first, ok := delivered[key]; ok && t.Kind != forwarder.Fail {
			a.result(j, i, t, courier.OK("duplicate of "+env.Original(first)))
			continue
		}
		res := a.deliverLocal(ctx, j, i, t, syncs)
		if res.Status == outbox.Sent {
			delivered[key] = i
		}
		a.result(j, i, t, res)
	}
}

// copyName is the Maildir name of recipient i's copy: the queue file's
// unique part plus the index, so a retry can find it.
func copyName(queueName string, i int) string {
	base, _, _ := strings.Cut(queueName, ":")
	sec, rest, _ := strings.Cut(base, ".")
	id, host, _ := strings.Cut(rest, ".")
	return fmt.Sprintf("%s.%sR%d.%s", sec, id, i, host)
}

// deliverLocal delivers to the store, a file, a Maildir or a command.
func (a *Agent) deliverLocal(ctx context.Context, j *job, i int, t forwarder.Target, syncs map[maildir.Dir]bool) courier.Result {
	env := j.m.Env
	orig := env.Original(i)
	via := a.qualify(t.Via)
	if t.Kind == forwarder.Store && t.Value != "" {
		// As Postfix's local(8): the store's copy is delivered to the
		// user that the aliases led to; X-Original-To keeps the
		// address it was sent to.
		via = a.qualify(t.Value)
	}
	trace := courier.Trace{Sender: env.Sender, DeliveredTo: via, ID: j.m.ID, Host: a.cfg.Hostname, Time: a.now()}
	hdr := trace.Header()
	if o := a.qualify(orig); !strings.EqualFold(o, via) {
		hdr = append(hdr, "X-Original-To: "+o+"\n"...)
	}
	kind, path := t.Kind, t.Value
	if kind == forwarder.Store {
		k, p := a.cfg.StoreKind()
		kind, path = forwarder.Maildir, p
		if k == "mbox" {
			kind = forwarder.Mbox
		}
	}
	switch kind {
	case forwarder.Maildir:
		d := maildir.Dir(path)
		name := copyName(j.name, i)
		if j.inDir == nil {
			j.inDir = map[int]maildir.Dir{}
		}
		j.inDir[i] = d
		if j.recovered {
			if ok, err := d.Has(name); err == nil && ok {
				syncs[d] = true
				return courier.OK("already delivered")
			}
		}
		if err := d.Deliver(name, hdr, j.m.Body()); err != nil {
			return localError(err)
		}
		syncs[d] = true
		return courier.OK("delivered to maildir")
	case forwarder.Mbox:
		return a.appendMbox(j, path, trace, hdr)
	case forwarder.Command:
		j.effects = true
		return a.command(ctx, j, i, t, hdr)
	case forwarder.Fail:
		return t.Result
	}
	return courier.Perm("5.3.0", "unknown target %q", t.Spec())
}

// appendMbox appends a copy to an mbox. A message taken up again after a
// crash first looks for its own trace header near the end of the mbox,
// so that the retry does not append the same copy twice.
func (a *Agent) appendMbox(j *job, path string, trace courier.Trace, hdr []byte) courier.Result {
	// A mailbox that stayed locked a moment ago is not waited for again
	// for every message of the batch.
	if t, ok := a.lockedMbox[path]; ok && a.now().Sub(t) < time.Minute {
		return courier.Temp("4.2.0", "%s: mailbox is locked by another program", path)
	}
	l, err := maildir.Mbox(path).Lock()
	if err != nil {
		var le *maildir.LockError
		if errors.As(err, &le) {
			a.lockedMbox[path] = a.now()
		}
		return localError(err)
	}
	delete(a.lockedMbox, path)
	defer l.Unlock()
	if j.recovered {
		marker := []byte("(homepost) id " + trace.ID + "\n\tfor <" + trace.DeliveredTo + ">;")
		if ok, err := l.ContainsNear(marker, j.m.Size+int64(len(hdr)), 64<<10); err == nil && ok {
			return courier.OK("already delivered")
		}
	}
	if err := l.Append(trace.Sender, a.now(), hdr, j.m.Body()); err != nil {
		return localError(err)
	}
	return courier.OK("delivered to mailbox")
}

// localError turns a local delivery error into a result: disk full or
// a lock held elsewhere waits; anything else (a path that cannot exist)
// waits too, because the user can fix it and mail must not be lost.
func localError(err error) courier.Result {
	if maildir.IsTemporary(err) {
		return courier.Temp("4.3.0", "%v", err)
	}
	return courier.Temp("4.2.0", "%v", err)
}

// result records one recipient's outcome in j and logs it.
func (a *Agent) result(j *job, i int, t forwarder.Target, res courier.Result) {
	env := j.m.Env
	r := env.Rcpts[i]
	now := a.now()
	attempts := r.Attempts + 1
	var next time.Time
	if res.Status == outbox.Deferred {
		if now.Sub(env.Arrival) >= a.cfg.MaxQueueLifetime.Duration {
			res = courier.Result{Status: outbox.Bounced, DSN: res.DSN,
				Reason: "message expired after " + a.cfg.MaxQueueLifetime.Duration.String() + " in the queue: " + res.Reason}
		} else {
			next = now.Add(backoff(attempts))
		}
	}
	if res.Status == outbox.Bounced {
		j.bounced = append(j.bounced, i)
	}
	j.recs = append(j.recs, outbox.StateRecord(i, res.Status, attempts, now, next, res.Text()))
	a.log.Info("delivery", "id", j.m.ID, "from", "<"+env.Sender+">", "to", a.qualify(t.Via),
		"orig_to", env.Original(i), "target", t.Spec(), "status", res.Status.String(),
		"delay", now.Sub(j.m.Arrived()).Round(time.Millisecond).String(), "dsn", res.DSN, "reason", res.Reason)
}

// finish records j's results, sends DSNs, and removes or reschedules it.
func (a *Agent) finish(j *job) (removed bool) {
	defer j.m.Close()
	env := j.m.Env
	if len(j.recs) == 0 && !env.Done() {
		a.reschedule(j)
		return
	}
	// Apply the results in memory first, to know whether anything is
	// left to do.
	done := true
	state := map[int]outbox.Status{}
	for _, r := range j.recs {
		state[r.Idx] = r.Status
	}
	for i, r := range env.Rcpts {
		st := r.Status
		if s, ok := state[i]; ok {
			st = s
		}
		if !st.Done() {
			done = false
		}
	}
	if len(j.bounced) > 0 {
		if err := a.bounce(j); err != nil {
			// The DSN could not be stored: record everything else, so
			// that nothing already sent is sent again, and leave the
			// bounced recipients to be tried (and bounced) again.
			a.log.Error("bounce", "id", j.m.ID, "reason", err)
			keep := j.recs[:0]
			for _, r := range j.recs {
				if r.Status != outbox.Bounced {
					keep = append(keep, r)
				}
			}
			if err := j.m.Append(keep...); err != nil {
				a.log.Error("record results", "id", j.m.ID, "reason", err)
			}
			a.schedule(j, a.now().Add(time.Minute))
			return
		}
	}
	if done && len(j.bounced) == 0 {
		// Every copy is durable: the file can go without a journal
		// write. Should the removal be lost in a crash, the retry finds
		// its Maildir and mbox copies and stores nothing twice; for
		// commands and remote copies the caller makes the removal
		// durable.
		if err := j.m.Remove(); err != nil {
			a.log.Error("remove queue file", "id", j.m.ID, "reason", err)
		}
		delete(a.due, j.name)
		return true
	}
	if err := j.m.Append(j.recs...); err != nil {
		a.log.Error("record results", "id", j.m.ID, "reason", err)
		a.schedule(j, a.now().Add(time.Minute))
		return
	}
	if done {
		j.m.Remove()
		delete(a.due, j.name)
		return true
	}
	a.reschedule(j)
	return false
}

func (a *Agent) schedule(j *job, t time.Time) {
	a.due[j.name] = t
}

// reschedule makes j due when its next recipient is, or after the delay
// that a failure of our own asked for.
func (a *Agent) reschedule(j *job) {
	if j.delay > 0 {
		a.schedule(j, a.now().Add(j.delay))
		return
	}
	a.schedule(j, j.m.Env.NextAttempt())
}

// sendRemote hands every remote recipient of the batch to the smarthost
// in one call, so that one connection carries them all. A copy forwarded
// by an alias or ~/.forward goes to the address it resolved to and
// carries Delivered-To for the address that forwarded it, so that a loop
// through a remote forwarder is caught when the copy comes back.
func (a *Agent) sendRemote(ctx context.Context, jobs []*job) {
	type group struct {
		j    *job
		rcpt []remote
	}
	var out []*courier.Outgoing
	var groups []group
	for _, j := range jobs {
		byVia := map[string]int{}
		for _, rc := range j.remote {
			via := ""
			if r := j.m.Env.Rcpts[rc.idx]; r.Parent >= 0 || !strings.EqualFold(rc.t.Value, r.Addr) {
				via = a.qualify(rc.t.Via)
			}
			k, ok := byVia[via]
			if !ok {
				m, prefix := j.m, []byte(nil)
				if via != "" {
					prefix = []byte("Delivered-To: " + via + "\n")
				}
				o := &courier.Outgoing{ID: m.ID, Sender: m.Env.Sender, Size: m.Size + int64(len(prefix)),
					Open: func() io.Reader { return io.MultiReader(bytes.NewReader(prefix), m.Body()) }}
				k = len(out)
				byVia[via] = k
				out = append(out, o)
				groups = append(groups, group{j: j})
			}
			out[k].Rcpts = append(out[k].Rcpts, rc.t.Value)
			groups[k].rcpt = append(groups[k].rcpt, rc)
		}
	}
	if len(out) == 0 {
		return
	}
	results := a.relay.Send(ctx, out)
	for k, g := range groups {
		for n, rc := range g.rcpt {
			res := courier.Temp("4.3.0", "no result from the smarthost")
			if k < len(results) && n < len(results[k]) {
				res = results[k][n]
			}
			if res.Status == outbox.Sent {
				g.j.effects = true
			}
			a.result(g.j, rc.idx, rc.t, res)
		}
	}
}
