package agent

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"homepost/courier"
	"homepost/forwarder"
	"homepost/maildir"
	"homepost/outbox"
)

// An envelope recipient that resolves to several targets has its
// expansion journaled before the first copy goes out (plan), so that a
// crash cannot change what the copies are for. Kept as it was first
// resolved, though, a copy that could not be delivered (deferred) kept
// going to the place the aliases or ~/.forward named then, after the
// user had pointed the line elsewhere or removed it, until
// max_queue_lifetime bounced it. As Postfix re-expands a recipient at
// each retry (with its duplicate filter), each retry of such a
// recipient resolves it again with the current files, and:
//
//   - a target of the new expansion that a child already delivered
//     (sent, or bounced: its DSN went out) is not delivered again:
//     children are known by target;
//   - one that a child is still to deliver keeps that child, and its
//     index: a Maildir copy stored before a crash is found by its name,
//     an mbox copy by its mark;
//   - one that no child has gets a new child, by a second expansion
//     record (x) of the recipient;
//   - one that a child dropped earlier had brings that child back
//     (its index again, so that a copy it stored is found, not made
//     twice);
//   - a child still to deliver whose target the new expansion lacks is
//     dropped: its state becomes expanded (its copy goes where the
//     recipient's expansion says now), and the log says so, naming
//     where the copy goes instead.
//
// A resolution that is a fallback (forwarder.ResolveAgain: a file that
// cannot be obeyed or read, a line or entry it cannot read, a lookup
// that failed for now) changes nothing: new mail goes to the store then
// so that none is lost, but taken for the user's wish it dropped the
// waiting copy for a store that had its copy already, and the message
// left the queue with the forwarded copy never sent.
//
// All of it is one append to the journal, the new children first and
// the drops last: a write torn by a crash keeps a prefix, which at worst
// leaves a child to drop at the next attempt, never a copy that goes
// nowhere. Nothing is delivered before the append is durable.

// reexpand brings the expansions of j's envelope recipients up to date
// before an attempt (see above). It returns false when the journal
// could not take the records: nothing is to be delivered then.
func (a *Agent) reexpand(j *job, now time.Time) bool {
	env := j.m.Env
	// The children of each recipient, in one pass: a message may
	// have many recipients. Children added by this attempt are left
	// alone.
	var kids map[int][]int
	for c, r := range env.Rcpts {
		if r.Parent >= 0 {
			if kids == nil {
				kids = map[int][]int{}
			}
			kids[r.Parent] = append(kids[r.Parent], c)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(kids)) {
		if env.Rcpts[p].Parent >= 0 || env.Rcpts[p].Status != outbox.Expanded || !a.expansionDue(j, kids[p], now) {
			continue
		}
		if !a.reexpandOne(j, p, kids[p], now) {
			return false
		}
	}
	return true
}

// expansionDue reports whether a child among kids is to be tried at
// this attempt: due, or forced by a flush or a reload. A change of the
// aliases or ~/.forward (forceLocal) re-reads every expansion with a
// copy still to deliver, whatever its kind: the change may be what
// takes the copy elsewhere.
func (a *Agent) expansionDue(j *job, kids []int, now time.Time) bool {
	env := j.m.Env
	for _, c := range kids {
		r := env.Rcpts[c]
		if r.Status != outbox.Pending && r.Status != outbox.Deferred {
			continue
		}
		if j.force || j.forceLocal || r.Status == outbox.Pending || !notYet(r.Next, now) {
			return true
		}
		if j.forceRemote && forwarder.ParseSpec(r.Addr, r.Via).Kind == forwarder.Remote {
			return true
		}
	}
	return false
}

// targetKey identifies the place a target delivers to, as plan's
// duplicate elimination does, a failure by its text. A file path is
// cleaned, and one that names a Maildir is that Maildir, written with
// its '/' or not, as the mbox courier delivers to it: a copy that
// reached it under one spelling is found under the other. The store is
// known by its path as configured now: a line naming a Maildir that
// config.toml's store names since is resolved as the store (one copy,
// not two), and the copy that Maildir took under the line's name is the
// store's; known apart, the store got the message a second time.
func (a *Agent) targetKey(t forwarder.Target) string {
	k, v := t.Kind, t.Value
	if k == forwarder.Store {
		k, v = a.store()
	}
	switch k {
	case forwarder.Fail:
		v = t.Spec()
	case forwarder.Mbox:
		if _, md := courier.DirectoryAt(v); md {
			k, v = forwarder.Maildir, filepath.Clean(v)+"/"
		} else {
			v = filepath.Clean(v)
		}
	case forwarder.Maildir:
		v = filepath.Clean(v) + "/"
	}
	return fmt.Sprint(int(k), "\x00", v)
}

// reexpandOne resolves envelope recipient p again and journals what
// changes for its children kids (see above).
func (a *Agent) reexpandOne(j *job, p int, kids []int, now time.Time) bool {
	env := j.m.Env
	parent := env.Rcpts[p].Addr
	ts, why := a.fwd.ResolveAgain(parent, j.dt)
	if why != "" {
		// A fallback (a file that cannot be obeyed or read now, a
		// lookup that failed), not the user's wish: the waiting copies
		// stay as journaled until the files can be read again.
		a.log.Warn("expansion kept as recorded", "id", j.m.ID, "to", parent,
			"reason", why+"; the copies still to deliver wait where the recorded expansion sends them")
		return true
	}
	if len(ts) == 0 {
		return true // never so (forwarder.Resolve); keep what is journaled
	}
	// The children by the place they deliver to now (an mbox line that
	// names a Maildir once it ends with '/' is that Maildir:
	// forwarder.Current).
	byKey := map[string][]int{}
	keyOf := map[int]string{}
	for _, c := range kids {
		r := env.Rcpts[c]
		k := a.targetKey(a.fwd.Current(forwarder.ParseSpec(r.Addr, r.Via), parent, j.dt))
		byKey[k] = append(byKey[k], c)
		keyOf[c] = k
	}
	var add []outbox.Target
	var revive, drop []outbox.Record
	var goesTo []string
	wanted := map[string]bool{}
	keep := map[int]bool{}
	for _, t := range ts {
		k := a.targetKey(t)
		if wanted[k] {
			continue
		}
		wanted[k] = true
		goesTo = append(goesTo, t.Spec())
		cs := byKey[k]
		done := false
		for _, c := range cs {
			if st := env.Rcpts[c].Status; st == outbox.Sent || st == outbox.Bounced || st == outbox.Bouncing {
				done = true
			}
		}
		live := false
		for _, c := range cs {
			if st := env.Rcpts[c].Status; st == outbox.Pending || st == outbox.Deferred {
				// A second child for the same place, beside one that
				// delivered it, is dropped below.
				keep[c] = !done
				live = true
			}
		}
		switch {
		case done || live:
		case len(cs) > 0:
			// Dropped at an earlier attempt, named again: the same
			// child, so that a copy it stored is found by its name.
			r := env.Rcpts[cs[0]]
			revive = append(revive, outbox.StateRecord(cs[0], outbox.Deferred, r.Attempts, now, time.Time{},
				"back in the expansion of "+parent))
		default:
			add = append(add, outbox.Target{Addr: t.Spec(), Via: t.Via})
		}
	}
	var logs []func()
	for _, c := range kids {
		r := env.Rcpts[c]
		if (r.Status != outbox.Pending && r.Status != outbox.Deferred) || keep[c] {
			continue
		}
		if a.storedBefore(j, c, parent) {
			// Stored by an attempt that a crash cut short before its
			// result was recorded: delivered, not dropped. Kept, the
			// Maildir courier finds it by its name and makes it
			// durable, storing nothing.
			continue
		}
		if r.Mark != nil {
			// An append to an mbox that an attempt began and did not
			// record: a whole copy there is delivered, not dropped;
			// one a crash cut off is cut (as at a start: cutTorn).
			whole, note := a.markedCopy(j, r.Mark)
			if whole {
				drop = append(drop, outbox.StateRecord(c, outbox.Sent, r.Attempts, now, time.Time{}, "2.0.0 already delivered"))
				logs = append(logs, func() {
					a.log.Info("delivery", "id", j.m.ID, "from", "<"+env.Sender+">", "to", a.qualify(r.Via),
						"orig_to", env.Original(c), "target", r.Addr, "status", "sent", "dsn", "2.0.0",
						"reason", "already delivered (found at its mark)")
				})
				continue
			}
			if note != "" {
				logs = append(logs, func() { a.log.Warn("recover mbox copy", "id", j.m.ID, "mbox", r.Mark.Path, "reason", note) })
			}
		}
		why := "no longer a target of " + parent
		if wanted[keyOf[c]] {
			why = "another copy for the same place is delivered or bounced already"
		}
		reason := "dropped: " + why + "; its copy goes to " + strings.Join(goesTo, ", ")
		drop = append(drop, outbox.StateRecord(c, outbox.Expanded, r.Attempts, now, time.Time{}, reason))
		logs = append(logs, func() {
			a.log.Info("target dropped", "id", j.m.ID, "to", a.qualify(r.Via), "orig_to", env.Original(c),
				"target", r.Addr, "reason", reason)
		})
	}
	if len(add)+len(revive)+len(drop) == 0 {
		return true
	}
	var recs []outbox.Record
	if len(add) > 0 {
		recs = append(recs, outbox.Record{Kind: 'x', Idx: p, Targets: add})
	}
	recs = append(recs, revive...)
	recs = append(recs, drop...)
	if err := j.m.Append(recs...); err != nil {
		a.log.Error("record expansion", "id", j.m.ID, "reason", err)
		j.delay = time.Minute
		return false
	}
	for _, f := range logs {
		f()
	}
	return true
}

// markedCopy reads the mbox that mk names where the mark says: whole
// reports a complete copy there. A copy cut off by a crash is cut, as
// the mbox courier and cutTorn do. note is set when the mbox could not
// be read: what a crash left there, if anything, stays.
func (a *Agent) markedCopy(j *job, mk *outbox.Mark) (whole bool, note string) {
	l, err := maildir.Mbox(mk.Path).LockForDelivery()
	if err != nil {
		return false, fmt.Sprintf("cannot read the copy begun at offset %d, which stays as it is: %v", mk.Off, err)
	}
	defer l.Unlock()
	st, err := l.Resolve(maildir.Mark{Off: mk.Off, Len: mk.Len, Sum: mk.Sum, Time: mk.Time}, j.m.Env.Sender)
	if err != nil {
		return false, fmt.Sprintf("cannot read the copy begun at offset %d, which stays as it is: %v", mk.Off, err)
	}
	if st == maildir.Cut {
		a.log.Info("cut off a copy that a crash left incomplete", "id", j.m.ID, "mbox", mk.Path, "offset", mk.Off)
	}
	return st == maildir.Whole, ""
}

// parentCopy lets the copy c of child i of an expanded recipient find a
// copy that its parent stored before the expansion was recorded: a
// recipient that resolved to one target is delivered under its own
// index (no expansion is journaled for it), and when a crash came
// before its result was recorded and the aliases or ~/.forward then
// gave it several targets, the copy it stored is its own, under its
// name in a Maildir or at its mark in an mbox. Looked for under the
// child's name only, it was stored a second time. A Maildir copy that
// the child's name does not find is looked for under the parent's
// (the courier finds it and makes it durable, as any copy an earlier
// attempt may have stored); an mbox copy with no mark of its own is
// read at the parent's mark when that names the same mbox. A name of
// the parent's exists only if the parent's own delivery stored it,
// which is never recorded as done once the recipient is expanded.
func parentCopy(j *job, i int, kind forwarder.Kind, c *courier.Copy) {
	env := j.m.Env
	r := env.Rcpts[i]
	if r.Parent < 0 || !j.recovered {
		return
	}
	parent := env.Rcpts[r.Parent]
	md := kind == forwarder.Maildir
	if kind == forwarder.Mbox {
		_, md = courier.DirectoryAt(c.To)
		if !md && c.Marked == nil && parent.Mark != nil && filepath.Clean(parent.Mark.Path) == filepath.Clean(c.To) {
			mk := parent.Mark
			c.Marked = &maildir.Mark{Off: mk.Off, Len: mk.Len, Sum: mk.Sum, Time: mk.Time}
		}
	}
	if !md {
		return
	}
	d := maildir.Dir(c.To)
	if ok, err := d.Has(c.Name); err == nil && ok {
		return
	}
	if name := copyName(j.name, r.Parent); name != c.Name {
		if ok, err := d.Has(name); err == nil && ok {
			c.Name = name
		}
	}
}

// storedBefore reports whether child c, a copy for a Maildir (the
// store, a line ending with '/', or a path naming a Maildir), was
// stored there by an earlier attempt whose result a crash kept from
// being recorded: its name (or its parent's, see parentCopy) is in the
// Maildir.
func (a *Agent) storedBefore(j *job, c int, parent string) bool {
	if !j.recovered {
		return false
	}
	r := j.m.Env.Rcpts[c]
	t := a.fwd.Current(forwarder.ParseSpec(r.Addr, r.Via), parent, j.dt)
	dir := ""
	switch t.Kind {
	case forwarder.Store:
		if k, p := a.store(); k == forwarder.Maildir {
			dir = p
		}
	case forwarder.Maildir:
		dir = t.Value
	case forwarder.Mbox:
		if _, md := courier.DirectoryAt(t.Value); md {
			dir = t.Value
		}
	}
	if dir == "" {
		return false
	}
	d := maildir.Dir(dir)
	for _, n := range []string{copyName(j.name, c), copyName(j.name, r.Parent)} {
		if ok, err := d.Has(n); err == nil && ok {
			return true
		}
	}
	return false
}
