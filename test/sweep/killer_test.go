//go:build linux && amd64

package sweep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The killer: a process that runs a program under ptrace, counts the
// calls of one system call across all of its threads, and kills it with
// SIGKILL on entry to the Nth.
//
// strace -e inject=SC:signal=SIGKILL:when=N does the same, but counts per
// thread; a Go program moves a goroutine from thread to thread (a
// delivery's calls are spread over two or three), so "the Nth call"
// would be the Nth of whichever thread gets there first, and a sweep of
// N would leave about half of the calls untried. The killer counts the
// calls of the process as a whole, in the order they are made, so that
// N = 1, 2, ... enumerates every one.
//
// Like strace --seccomp-bpf, it stops the program only at the calls it
// counts: the program is started through a shim (the test binary again)
// that installs a seccomp filter returning SECCOMP_RET_TRACE for that
// system call, then execs it. Children inherit the filter, so they are
// traced too (a call that the filter marks fails with ENOSYS when
// nobody traces), and let run; only the program's own calls count.
//
// The killer runs as a separate process (the test binary started again,
// see TestMain), because a tracer waits for its tracees with wait4(-1),
// which in the test process would also reap the other programs the
// tests run.

// killerEnv names the file the killer writes its verdict to; its
// presence makes the test binary a killer (TestMain). shimEnv makes it
// the shim, with the number of the system call to trace. armEnv, when
// set, names a file: the killer counts calls only once it exists, so
// that a sweep can begin at a step of a program already running (the
// move of the outbox that a running agent follows, move_test.go)
// rather than at its start.
const (
	killerEnv = "HOMEPOST_SWEEP_KILLER"
	shimEnv   = "HOMEPOST_SWEEP_SHIM"
	armEnv    = "HOMEPOST_SWEEP_ARM"
)

// verdict is what the killer reports.
type verdict struct {
	Killed bool   `json:"killed"` // the program was killed at the Nth call
	Site   string `json:"site"`   // that call, with its path
	Exit   int    `json:"exit"`   // the program's exit status when not killed
	Calls  int    `json:"calls"`  // calls of the swept system call made
	Err    string `json:"err"`
}

// sysnum are the amd64 numbers of the swept system calls.
var sysnum = map[string]uint64{
	"write": 1, "pwrite64": 18, "fsync": 74, "fdatasync": 75, "ftruncate": 77, "syncfs": 306,
	"rename": 82, "mkdir": 83, "link": 86, "unlink": 87,
	"openat": 257, "mkdirat": 258, "unlinkat": 263, "renameat": 264, "linkat": 265, "renameat2": 316,
}

// The shim and the killer leave with syscall.Exit, not os.Exit: built
// with -race, os.Exit waits a second for late race reports (GORACE's
// atexit_sleep_ms), and the killer runs once for each crash point.
func TestMain(m *testing.M) {
	if nr := os.Getenv(shimEnv); nr != "" {
		fmt.Fprintln(os.Stderr, "shim:", shim(nr, os.Args[1:]))
		syscall.Exit(127)
	}
	if out := os.Getenv(killerEnv); out != "" {
		v := killer(os.Args[1:])
		b, _ := json.Marshal(v)
		if err := os.WriteFile(out, b, 0o600); err != nil {
			syscall.Exit(2)
		}
		syscall.Exit(0)
	}
	os.Exit(m.Run())
}

// shim installs the seccomp filter and execs the program; it returns
// only on error.
func shim(nrText string, argv []string) error {
	nr, err := strconv.ParseUint(nrText, 10, 32)
	if err != nil || len(argv) == 0 {
		return fmt.Errorf("bad arguments %q %q", nrText, argv)
	}
	runtime.LockOSThread() // the filter is this thread's, which execs
	const (
		ldW       = 0x20 // BPF_LD|BPF_W|BPF_ABS
		jeq       = 0x15 // BPF_JMP|BPF_JEQ|BPF_K
		ret       = 0x06 // BPF_RET|BPF_K
		archAMD64 = 0xc000003e
		retAllow  = 0x7fff0000
		retTrace  = 0x7ff00000
	)
	filter := []unix.SockFilter{
		{Code: ldW, K: 4}, // seccomp_data.arch
		{Code: jeq, Jt: 1, Jf: 0, K: archAMD64},
		{Code: ret, K: retAllow},
		{Code: ldW, K: 0}, // seccomp_data.nr
		{Code: jeq, Jt: 0, Jf: 1, K: uint32(nr)},
		{Code: ret, K: retTrace},
		{Code: ret, K: retAllow},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		return err
	}
	env := slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, shimEnv+"=") })
	return syscall.Exec(argv[0], argv, env)
}

// killer runs "SYSCALL N PROGRAM ARGS..." (N = 0: never kill, count).
func killer(args []string) verdict {
	if len(args) < 3 {
		return verdict{Err: "usage: SYSCALL N PROGRAM [ARGS]"}
	}
	nr, ok := sysnum[args[0]]
	if !ok {
		return verdict{Err: "unknown system call " + args[0]}
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return verdict{Err: err.Error()}
	}
	arm := os.Getenv(armEnv)
	counting := arm == ""
	runtime.LockOSThread() // every ptrace request from this thread
	cmd := exec.Command(os.Args[0], args[2:]...)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(s string) bool {
		return strings.HasPrefix(s, killerEnv+"=") || strings.HasPrefix(s, armEnv+"=")
	}), shimEnv+"="+strconv.FormatUint(nr, 10))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	// SIGTERM to the killer is for the program: a daemon is stopped so.
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		return verdict{Err: err.Error()}
	}
	pid := cmd.Process.Pid
	go func() {
		for range terms {
			syscall.Kill(pid, syscall.SIGTERM)
		}
	}()
	var ws syscall.WaitStatus
	// The first stop: the exec of the shim.
	if _, err := syscall.Wait4(pid, &ws, syscall.WALL, nil); err != nil {
		return verdict{Err: err.Error()}
	}
	const (
		traceFork    = 0x2
		traceVfork   = 0x4
		traceClone   = 0x8
		traceExec    = 0x10
		traceSeccomp = 0x80
		exitKill     = 0x100000
		eventExec    = 4
		eventSeccomp = 7
	)
	if err := syscall.PtraceSetOptions(pid, traceFork|traceVfork|traceClone|traceExec|traceSeccomp|exitKill); err != nil {
		return verdict{Err: "ptrace: " + err.Error()}
	}
	var v verdict
	started := false // the program runs (the shim has exec'd it)
	known := map[int]bool{pid: true}
	syscall.PtraceCont(pid, 0)
	for {
		tid, err := syscall.Wait4(-1, &ws, syscall.WALL, nil)
		if errors.Is(err, syscall.ECHILD) {
			break
		}
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			v.Err = err.Error()
			break
		}
		first := !known[tid]
		known[tid] = true
		if ws.Exited() || ws.Signaled() {
			if tid == pid {
				if ws.Exited() {
					v.Exit = ws.ExitStatus()
				} else {
					v.Exit = 128 + int(ws.Signal())
				}
			}
			continue
		}
		if !ws.Stopped() {
			continue
		}
		sig := ws.StopSignal()
		switch {
		case sig == syscall.SIGTRAP && ws.TrapCause() == eventSeccomp:
			if started && !v.Killed && !counting && tgid(tid) == pid {
				_, err := os.Stat(arm)
				counting = err == nil
			}
			if started && !v.Killed && counting && tgid(tid) == pid {
				v.Calls++
				if v.Calls == n {
					var regs syscall.PtraceRegs
					syscall.PtraceGetRegs(tid, &regs)
					v.Killed = true
					v.Site = describe(tid, args[0], &regs)
					syscall.Kill(pid, syscall.SIGKILL)
					continue // it dies where it stands
				}
			}
			syscall.PtraceCont(tid, 0)
		case sig == syscall.SIGTRAP && ws.TrapCause() == eventExec:
			if tid == pid {
				started = true
			}
			syscall.PtraceCont(tid, 0)
		case sig == syscall.SIGTRAP && ws.TrapCause() > 0:
			syscall.PtraceCont(tid, 0) // a new thread or child: traced already
		case sig == syscall.SIGSTOP && first:
			// The stop a new tracee starts with: not a real signal.
			syscall.PtraceCont(tid, 0)
		default:
			syscall.PtraceCont(tid, int(sig)) // pass the signal on
		}
	}
	return v
}

// tgid is the process a thread belongs to.
func tgid(tid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), "\nTgid:")
	f := strings.Fields(rest)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// describe names the call a kill was injected at, with the file it is
// about: the path of its descriptor or its path argument.
func describe(tid int, name string, r *syscall.PtraceRegs) string {
	switch name {
	case "write", "pwrite64", "fsync", "fdatasync", "ftruncate", "syncfs":
		p, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", tid, r.Rdi))
		return fmt.Sprintf("%s(%d<%s>)", name, r.Rdi, p)
	case "openat", "mkdirat", "unlinkat":
		return fmt.Sprintf("%s(%q)", name, peekString(tid, uintptr(r.Rsi)))
	case "renameat", "renameat2", "linkat":
		return fmt.Sprintf("%s(%q, %q)", name, peekString(tid, uintptr(r.Rsi)), peekString(tid, uintptr(r.R10)))
	}
	return name
}

// peekString reads a NUL-terminated string from the tracee.
func peekString(tid int, addr uintptr) string {
	var b strings.Builder
	buf := make([]byte, 64)
	for b.Len() < 4096 {
		n, err := syscall.PtracePeekData(tid, addr+uintptr(b.Len()), buf)
		if err != nil || n == 0 {
			break
		}
		if i := strings.IndexByte(string(buf[:n]), 0); i >= 0 {
			b.Write(buf[:i])
			break
		}
		b.Write(buf[:n])
	}
	return b.String()
}

// kill runs the binary's program name in the world under the killer,
// killed at the nth call of sys (n = 0: never).
func (w *world) kill(stdin []byte, sys string, n int, name string, args ...string) outcome {
	_, wait := w.startKill(stdin, sys, n, name, args...)
	return wait()
}

// startKill starts what kill runs and returns at once: term sends the
// program SIGTERM (the killer passes it on), wait waits for the verdict.
func (w *world) startKill(stdin []byte, sys string, n int, name string, args ...string) (term func(), wait func() outcome) {
	out := filepath.Join(w.e.Home, ".killer.json")
	c := exec.Command(os.Args[0], append([]string{sys, strconv.Itoa(n), filepath.Join(w.e.Bin, name)}, args...)...)
	c.Env = append(append([]string{}, w.e.Vars...), killerEnv+"="+out)
	c.Dir = "/"
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	var errb bytes.Buffer
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		return func() {}, func() outcome { return outcome{err: fmt.Errorf("killer: %v", err)} }
	}
	term = func() { c.Process.Signal(syscall.SIGTERM) }
	wait = func() outcome {
		defer os.Remove(out)
		if err := c.Wait(); err != nil {
			return outcome{err: fmt.Errorf("killer: %v: %s", err, errb.String())}
		}
		b, err := os.ReadFile(out)
		var v verdict
		if err == nil {
			err = json.Unmarshal(b, &v)
		}
		if err != nil {
			return outcome{err: fmt.Errorf("killer: %v: %s", err, errb.String())}
		}
		o := outcome{killed: v.Killed, site: strings.ReplaceAll(v.Site, w.e.Home, "~"), stderr: errb.String(), calls: v.Calls}
		switch {
		case v.Err != "":
			o.err = errors.New("killer: " + v.Err)
		case !v.Killed && v.Exit != 0:
			o.err = fmt.Errorf("%s exited %d: %s", name, v.Exit, o.stderr)
		}
		return o
	}
	return term, wait
}

// canKill reports why the killer cannot run here, or "".
func canKill() string {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		return "no /proc"
	}
	c := exec.Command(os.Args[0], "write", "0", "/bin/true")
	c.Env = append(os.Environ(), killerEnv+"=/dev/null")
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Sprintf("%v %s", err, out)
	}
	return ""
}
