package safeio

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Concurrent commits share the syncs of their files and of new/, and
// each waiter is answered by a sync that began after it asked.
func TestGroup(t *testing.T) {
	var calls, inFlight atomic.Int32
	var mu sync.Mutex
	started := map[int]time.Time{}
	g := &Group{}
	g.Batch = func([]*os.File, []string) error {
		n := int(calls.Add(1))
		mu.Lock()
		started[n] = time.Now()
		mu.Unlock()
		if inFlight.Add(1) > 1 {
			t.Error("two fsyncs at once")
		}
		time.Sleep(5 * time.Millisecond)
		inFlight.Add(-1)
		return nil
	}

	var wg sync.WaitGroup
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			asked := time.Now()
			before := calls.Load()
			sync := func() error { return g.Sync(nil, []string{"/x"}) }
			if i%2 == 0 {
				sync = func() error { return g.Sync([]*os.File{f}, nil) }
			}
			if err := sync(); err != nil {
				t.Error(err)
			}
			// Some fsync numbered after `before` started after we asked.
			mu.Lock()
			defer mu.Unlock()
			ok := false
			for n, at := range started {
				if n > int(before) && !at.Before(asked) {
					ok = true
				}
			}
			if !ok {
				t.Error("answered by a fsync that began before the call")
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n >= 50 || n < 1 {
		t.Errorf("%d syncs for 50 waiters", n)
	}
	t.Logf("%d fsyncs for 50 waiters", calls.Load())
}

// SyncSoon waits up to Linger for a round that another caller begins and
// rides on it; alone, it begins its own once Linger is over; with no
// Linger it is Sync. Mixed with Sync under load, every call is answered
// by a round that began after it and no two rounds overlap.
func TestGroupSyncSoon(t *testing.T) {
	type round struct {
		dirs []string
		at   time.Time
	}
	var mu sync.Mutex
	var rounds []round
	var inFlight atomic.Int32
	g := &Group{}
	g.Batch = func(_ []*os.File, dirs []string) error {
		if inFlight.Add(1) > 1 {
			t.Error("two rounds at once")
		}
		mu.Lock()
		rounds = append(rounds, round{append([]string(nil), dirs...), time.Now()})
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		inFlight.Add(-1)
		return nil
	}
	reset := func() { mu.Lock(); rounds = nil; mu.Unlock() }
	const linger = 200 * time.Millisecond
	g.Linger = func() time.Duration { return linger }

	// Another caller's round, begun within the linger, covers it: one
	// round for both.
	done := make(chan error, 1)
	go func() { done <- g.SyncSoon(nil, []string{"/delivery"}) }()
	time.Sleep(20 * time.Millisecond)
	if err := g.Sync(nil, []string{"/session"}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(rounds) != 1 || len(rounds[0].dirs) != 2 {
		t.Fatalf("rounds %v, want one with both directories", rounds)
	}

	// Alone: its own round, once the linger is over.
	reset()
	start := time.Now()
	if err := g.SyncSoon(nil, []string{"/delivery"}); err != nil {
		t.Fatal(err)
	}
	if len(rounds) != 1 || rounds[0].at.Sub(start) < linger {
		t.Fatalf("alone: rounds %v, begun %v after the call; want one, after %v", rounds, rounds[0].at.Sub(start), linger)
	}

	// No linger: at once.
	reset()
	g.Linger = func() time.Duration { return 0 }
	start = time.Now()
	if err := g.SyncSoon(nil, []string{"/delivery"}); err != nil {
		t.Fatal(err)
	}
	if len(rounds) != 1 || rounds[0].at.Sub(start) > linger/2 {
		t.Fatalf("without linger: rounds %v", rounds)
	}

	// Under load, mixed: each call answered by a round begun after it.
	reset()
	g.Linger = func() time.Duration { return time.Millisecond }
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			asked := time.Now()
			call := g.Sync
			if i%2 == 0 {
				call = g.SyncSoon
			}
			if err := call(nil, []string{"/d"}); err != nil {
				t.Error(err)
			}
			answered := time.Now()
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rounds {
				if !r.at.Before(asked) && r.at.Before(answered) {
					return
				}
			}
			t.Error("answered without a round begun after the call")
		}()
		time.Sleep(time.Duration(i%3) * 300 * time.Microsecond)
	}
	wg.Wait()
}
