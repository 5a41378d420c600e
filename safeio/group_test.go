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
