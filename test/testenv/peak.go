package testenv

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// VmHWM reads a running process's peak resident set in KiB, from its own
// /proc/PID/status. Unlike a child's rusage Maxrss, it does not count
// the test process's memory: Go starts a child with vfork, in the
// parent's address space until exec, and Linux keeps that space's
// high-water mark as the child's Maxrss.
func VmHWM(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb, true
			}
		}
	}
	return 0, false
}

// WatchPeak samples VmHWM of the running process pid every 5 ms until
// the function it returns is called, which returns the highest value
// seen (0 if none could be read): the peak while the process ran, read
// before it exits, when its status no longer has one.
func WatchPeak(pid int) func() int64 {
	peak := make(chan int64, 1)
	done := make(chan struct{})
	go func() {
		var hwm int64
		for {
			if kb, ok := VmHWM(pid); ok && kb > hwm {
				hwm = kb
			}
			select {
			case <-done:
				peak <- hwm
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(done)
		return <-peak
	}
}
