package sweep

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
)

// tracedAgent is "homepost agent" running under strace -f, which writes
// the calls of the system calls the fsync model reads (recorded) to a
// trace file.
type tracedAgent struct {
	t      *testing.T
	w      *world
	c      *exec.Cmd
	log    testenv.LockedBuffer
	exited chan struct{}
}

// traceAgent starts the world's agent under strace, writing to trace.
func (w *world) traceAgent(t *testing.T, trace string) *tracedAgent {
	t.Helper()
	a := &tracedAgent{t: t, w: w, exited: make(chan struct{})}
	a.c = exec.Command("strace", "-f", "-qq", "-y", "-s", "64", "-o", trace, "--seccomp-bpf", "-e", "trace="+recorded,
		filepath.Join(w.e.Bin, "homepost"), "agent")
	a.c.Env, a.c.Dir = w.e.Vars, "/"
	a.c.Stderr = &a.log
	if err := a.c.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.c.Wait(); close(a.exited) }()
	t.Cleanup(a.stop)
	return a
}

// stop stops the agent itself (strace would only detach from it) and
// waits for strace to exit; once stopped, it does nothing.
func (a *tracedAgent) stop() {
	select {
	case <-a.exited:
		return
	default:
	}
	if b, err := os.ReadFile(a.w.e.Path(".local", "state", "homepost", "agent.lock")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	select {
	case <-a.exited:
	case <-time.After(20 * time.Second):
		a.c.Process.Kill()
		a.t.Fatalf("the agent did not stop:\n%s", a.log.String())
	}
}
