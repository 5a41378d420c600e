package courier

import (
	"context"
	"sync"
)

// Claims are directories whose new names must be durable before any copy
// of a batch takes effect: the agent's claims in the outbox's cur/. A
// copy made while its message's claim could still be undone by a power
// loss would be made again, as new, after it.
//
// Writing a copy into a Maildir's tmp/ is no effect (readers never look
// there, and a retry writes it anew); renaming it into new/ is. So the
// Maildir courier makes the claims durable together with its copies'
// data (one safeio.SyncBatch: a single syncfs where the outbox and the
// Maildir share a file system), and every other courier, which has an
// effect as soon as it starts, calls Sync first. Whoever comes first
// does it; the others find it done.
type Claims struct {
	mu      sync.Mutex
	dirs    []string
	done    bool
	durable func() // run once, when the claims are durable
}

// NewClaims returns the claims of a batch made in dirs.
func NewClaims(dirs ...string) *Claims { return &Claims{dirs: dirs} }

// Then has f run once, as soon as the claims are durable: the agent
// drops the claimed names from the outbox's new/ (outbox.Dir.Take).
func (c *Claims) Then(f func()) { c.durable = f }

// settled runs the durable hook, once; c.mu is held.
func (c *Claims) settled() {
	c.done = true
	if f := c.durable; f != nil {
		c.durable = nil
		f()
	}
}

type claimsKey struct{}

// WithClaims returns ctx carrying c to the couriers.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// claimsOf returns the claims ctx carries, nil if none.
func claimsOf(ctx context.Context) *Claims {
	c, _ := ctx.Value(claimsKey{}).(*Claims)
	return c
}

// Pending returns the directories still to be made durable; nil when c
// is nil or done.
func (c *Claims) Pending() []string {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return nil
	}
	return c.dirs
}

// Done records that a sync which began after the claims were made, and
// covered Pending, has returned without error.
func (c *Claims) Done() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.settled()
	c.mu.Unlock()
}

// Sync makes the claims durable unless that is done; a failure leaves
// them pending.
func (c *Claims) Sync() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return nil
	}
	if err := syncBatch(nil, c.dirs); err != nil {
		return err
	}
	c.settled()
	return nil
}

// SyncClaims makes the claims that ctx carries durable (Claims.Sync): a
// courier whose copies take effect at once calls it first.
func SyncClaims(ctx context.Context) error { return claimsOf(ctx).Sync() }

// Published collects the Maildir new/ directories into which a batch's
// copies were renamed, when the agent makes them durable later: with
// the next batch's claims (one sync for both) or, when no batch comes,
// on its own. Until then the agent records no result and retires no
// queue file of the batch (a copy must be durable before either), and a
// power loss in between leaves each message in cur/, where the next
// start takes it up as possibly delivered and finds its copy by name or
// writes it again. A sendmail at a time is a batch each: the Maildir's
// new/ then costs no flush of its own.
type Published struct {
	mu   sync.Mutex
	dirs []string
}

// Add records dir as holding copies renamed into it, not yet synced.
func (p *Published) Add(dir string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.dirs {
		if d == dir {
			return
		}
	}
	p.dirs = append(p.dirs, dir)
}

// Dirs returns the directories added; nil when p is nil.
func (p *Published) Dirs() []string {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.dirs...)
}

type publishedKey struct{}

// WithPublished returns ctx carrying p: the Maildir courier then adds
// the new/ directories it renamed copies into to p instead of syncing
// them.
func WithPublished(ctx context.Context, p *Published) context.Context {
	return context.WithValue(ctx, publishedKey{}, p)
}

// publishedOf returns the collector ctx carries, nil if none.
func publishedOf(ctx context.Context) *Published {
	p, _ := ctx.Value(publishedKey{}).(*Published)
	return p
}
