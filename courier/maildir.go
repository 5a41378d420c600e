package courier

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"homepost/maildir"
	"homepost/outbox"
	"homepost/safeio"
)

// Maildir stores copies in Maildirs (Copy.To is the directory), with
// package maildir's durable writer, in three steps for the whole batch
// (group commit): every copy is written into its Maildir's tmp/; all of
// them, and the batch's claims (Claims), are made durable together by
// safeio.SyncBatch (one syncfs where it is sound, else an fsync each,
// side by side); then each is renamed into new/, and every directory
// that received one is fsynced once. A copy is sent only once its
// directory is, or, when ctx carries a Published, the directory is left
// to the caller to sync before it records the results. A recovered copy
// is looked for by its name first, and not stored twice.
//
// Each copy keeps the order that makes it safe (its data durable before
// its name appears in new/, the claim durable before that), but a batch
// of fifty pays about two flushes of the disk instead of fifty-two.
type Maildir struct{}

// chunk bounds the copies held open at once (one descriptor each).
const chunk = 64

// syncBatch makes a chunk of copies and the claims durable, and then
// the Maildirs' new/: through the process's group, so that a batch that
// asks while the SMTP listener syncs rides on its next round, and one
// that asks while the listener is in a stream waits a moment for a
// session's round (SyncSoon). Tests replace it.
var syncBatch = safeio.Shared.SyncSoon

// Deliver implements Courier.
func (Maildir) Deliver(ctx context.Context, copies []*Copy) []Result {
	res := make([]Result, len(copies))
	claims := claimsOf(ctx)
	var dirs []maildir.Dir
	touched := make([]bool, len(copies))
	ready := map[maildir.Dir]error{}
	var todo []int
	for i, c := range copies {
		d := maildir.Dir(c.To)
		if _, ok := ready[d]; !ok {
			// Before the first copy of the batch: complete the
			// Maildir, so that no copy goes into one that a crash left
			// without cur/ (readers refuse it). Three stats when it is
			// whole.
			ready[d] = d.Init()
			dirs = append(dirs, d)
		}
		if err := ready[d]; err != nil {
			if plain := strings.TrimSuffix(c.To, "/"); isFile(plain) {
				res[i] = fileNotMaildir(plain)
			} else {
				res[i] = localError(err)
			}
			continue
		}
		if c.Recovered {
			if ok, err := d.Has(c.Name); err == nil && ok {
				// Stored before a crash, perhaps not yet synced.
				touched[i] = true
				res[i] = OK("already delivered")
				continue
			}
		}
		todo = append(todo, i)
	}
	for len(todo) > 0 {
		n := min(chunk, len(todo))
		store(copies, todo[:n], claims, res, touched)
		todo = todo[n:]
	}
	for _, d := range dirs {
		used := false
		for i, c := range copies {
			used = used || (touched[i] && maildir.Dir(c.To) == d)
		}
		if !used {
			continue
		}
		if pub := publishedOf(ctx); pub != nil {
			pub.Add(filepath.Join(string(d), "new"))
			continue
		}
		err := syncBatch(nil, []string{filepath.Join(string(d), "new")})
		if err == nil {
			continue
		}
		for i, c := range copies {
			if maildir.Dir(c.To) == d && res[i].Status == outbox.Sent {
				res[i] = Unknown("4.3.0", "%v", err)
			}
		}
	}
	return res
}

// store writes the copies idx, makes them and the claims durable, and
// renames them into new/.
func store(copies []*Copy, idx []int, claims *Claims, res []Result, touched []bool) {
	pend := make([]*maildir.Pending, len(idx))
	var files []*os.File
	for k, i := range idx {
		c := copies[i]
		p, err := maildir.Dir(c.To).Write(c.Name, c.Header, c.Body())
		if err != nil {
			res[i] = localError(err)
			continue
		}
		pend[k] = p
		files = append(files, p.File())
	}
	if len(files) == 0 {
		return
	}
	if err := syncBatch(files, claims.Pending()); err != nil {
		for k, i := range idx {
			if pend[k] != nil {
				pend[k].Discard()
				res[i] = localError(err)
			}
		}
		return
	}
	claims.Done()
	for k, i := range idx {
		if pend[k] == nil {
			continue
		}
		if err := pend[k].Publish(); err != nil {
			res[i] = localError(err)
			continue
		}
		touched[i] = true
		res[i] = OK("delivered to maildir")
	}
}

// isFile reports whether path is a regular file (following a symbolic
// link).
func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// fileNotMaildir is the result for a Maildir target that is a file: an
// mbox named as a Maildir (a line ending in '/', or a store written
// without "mbox:"). The copy waits, and the reason says what to write.
func fileNotMaildir(path string) Result {
	return Temp("4.2.0", "%s is a file, not a Maildir: to deliver into it as an mbox, name it without the '/' (the store: store = \"mbox:%s\" in config.toml)", path, path)
}

// localError turns a local delivery error into a result: disk full or
// a lock held elsewhere waits; anything else (a path that cannot exist)
// waits too, because the user can fix it and mail must not be lost.
func localError(err error) Result {
	if maildir.IsTemporary(err) {
		return Temp("4.3.0", "%v", err)
	}
	return Temp("4.2.0", "%v", err)
}
