package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"homepost/capture"
	"homepost/courier"
	"homepost/sysexits"

	"golang.org/x/sys/unix"
)

// exitResults maps sysexits(3) codes of an exec: relay to outcomes, as
// Postfix's pipe(8) reads them. A code not listed is deferred: a
// program that fails in an unknown way should not bounce mail.
var exitResults = map[int]struct {
	perm bool
	dsn  string
	text string
}{
	sysexits.Usage:       {true, "5.3.0", "command line usage error"},
	sysexits.DataErr:     {true, "5.6.0", "data format error"},
	sysexits.NoInput:     {true, "5.3.0", "cannot open input"},
	sysexits.NoUser:      {true, "5.1.1", "user unknown"},
	sysexits.NoHost:      {true, "5.1.2", "host name unknown"},
	sysexits.Unavailable: {true, "5.3.0", "service unavailable"},
	sysexits.Software:    {false, "4.3.0", "internal software error"},
	sysexits.OSErr:       {false, "4.3.0", "system resource problem"},
	sysexits.OSFile:      {false, "4.3.0", "critical OS file missing"},
	sysexits.CantCreate:  {false, "4.2.0", "can't create output file"},
	sysexits.IOErr:       {false, "4.3.0", "input/output error"},
	sysexits.TempFail:    {false, "4.3.0", "temporary failure"},
	sysexits.Protocol:    {true, "5.5.0", "remote error in protocol"},
	sysexits.NoPerm:      {true, "5.7.0", "permission denied"},
	sysexits.Config:      {false, "4.3.5", "local configuration error"},
}

// execSend hands one message to the exec: program.
func (c *Client) execSend(ctx context.Context, m *courier.Outgoing, res []courier.Result) {
	prog := filepath.Base(c.argv[0])
	args := append([]string(nil), c.argv[1:]...)
	if s := c.envelopeSender(m.Sender); s != "" {
		args = append(args, "-f", s)
	} else {
		args = append(args, "-f", "<>")
	}
	var idx []int
	for i, r := range m.Rcpts {
		// A recipient that looks like an option would be read as one.
		if r == "" || r[0] == '-' || strings.ContainsAny(r, "\r\n") {
			res[i] = courier.Perm("5.1.3", "bad recipient address %q", r)
			continue
		}
		args = append(args, r)
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return
	}
	set := func(r courier.Result) {
		for _, i := range idx {
			res[i] = r
		}
	}
	br := bufio.NewReaderSize(m.Open(), 64<<10)
	head, err := readHead(br)
	if err != nil {
		set(courier.Temp("4.3.0", "read queued message: %v", err))
		return
	}
	head = c.rewrite(head)

	stop := ctx // the delivery's: the agent stops, or [relay] was replaced
	ctx, cancel := context.WithTimeout(ctx, c.rc.DataTimeout.Duration)
	defer cancel()
	atTTY := foregroundTTY()
	cmd := exec.CommandContext(ctx, c.argv[0], args...)
	if atTTY {
		// The program stays in the terminal's foreground (below), and
		// a ^C typed there goes to the whole group: it is homepost's
		// alone. Killed by it, a program that had the message whole
		// (that may have handed it on) was recorded as failed, and the
		// message was sent again. Started with SIGINT ignored, which
		// an exec keeps (as a shell without job control starts a
		// command run with &; ssh and msmtp leave it so), it is
		// stopped by homepost's rules, as at SIGTERM (agent.stopRemote,
		// stopOnce). Go resets in the child the signals it handles, so
		// a shell sets it and execs the program. SIGQUIT (^\), which
		// homepost does not catch, still ends both: a crash, which the
		// queue survives.
		if _, err := exec.LookPath(c.argv[0]); err != nil {
			set(courier.Temp("4.3.0", "cannot run %s: %v", c.argv[0], err))
			return
		}
		cmd = exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", `trap '' INT; exec "$0" "$@"`, c.argv[0]}, args...)...)
	}
	// The message goes through a pipe of our own, so that we see when
	// the program has read it all (feed).
	pr, pw, err := os.Pipe()
	if err != nil {
		set(courier.Temp("4.3.0", "exec relay: %v", err))
		return
	}
	cmd.Stdin = pr
	defer courier.Awaiting(stop, false)
	var out bytes.Buffer
	lw := &capture.LimitWriter{W: &out, N: maxOutput}
	cmd.Stdout, cmd.Stderr = lw, lw
	// Stopped (the agent stops, [relay] is replaced) or out of time,
	// the whole process group is killed, as a command target's is: a
	// wrapper script's child, the real sendmail, that went on would
	// hand over a message recorded as deferred, and the next try would
	// send it again.
	// Not where homepost itself runs in the foreground of a terminal
	// (homepost flush typed at a shell, with no agent running): there
	// the program stays in the terminal's foreground, so that it can
	// ask there (ssh for a passphrase or a host key); in a group of its
	// own its read of the terminal stopped it (SIGTTIN) until
	// data_timeout. The group is homepost's own there: the program is
	// killed with the processes it started that are still its
	// descendants (killTree), which a ^C no longer ends.
	if atTTY {
		cmd.Cancel = func() error { return killTree(cmd.Process.Pid) }
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	}
	cmd.WaitDelay = 5 * time.Second
	if err = cmd.Start(); err == nil {
		pr.Close()
		exited := make(chan struct{})
		fed := make(chan struct{})
		go func() {
			defer close(fed)
			feed(pw, io.MultiReader(bytes.NewReader(head), br), exited, func() { courier.Awaiting(stop, true) })
		}()
		err = cmd.Wait()
		close(exited)
		select {
		case <-fed:
		case <-time.After(cmd.WaitDelay):
			// A process the program left behind holds its stdin
			// and reads nothing: the write gives up.
			pw.Close()
			<-fed
		}
	} else {
		pr.Close()
		pw.Close()
	}
	said := firstLine(out.String())
	var ee *exec.ExitError
	switch {
	case err == nil || errors.Is(err, exec.ErrWaitDelay) || cmd.ProcessState != nil && cmd.ProcessState.Success():
		// ErrWaitDelay: the program exited 0, and a process it left
		// behind (a queue runner, a wrapper's "cmd &") still held its
		// output cmd.WaitDelay later. It took the message: deferred,
		// the message went to it again at every retry. So it did when
		// it exited 0 as the delivery was stopped: os/exec may run
		// cmd.Cancel after the exit, and Wait then returns the kill's
		// ESRCH or the context's error.
		set(courier.OK(fmt.Sprintf("delivered via %s%s", prog, said)))
	case stop.Err() != nil:
		// Killed because the delivery was stopped, not for its time:
		// saying "did not finish within data_timeout" would send the
		// user to a timeout that played no part.
		set(courier.Temp("4.4.7", "delivery stopped while %s ran: it was killed", prog))
	case ctx.Err() != nil:
		set(courier.Temp("4.4.7", "%s did not finish within %v", prog, c.rc.DataTimeout.Duration))
	case errors.As(err, &ee):
		ws, _ := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			set(courier.Temp("4.3.0", "%s killed by signal %v%s", prog, ws.Signal(), said))
			return
		}
		code := ee.ExitCode()
		e, ok := exitResults[code]
		switch {
		case !ok:
			set(courier.Temp("4.3.0", "%s failed with exit status %d%s", prog, code, said))
		case e.perm:
			set(courier.Perm(e.dsn, "%s failed with exit status %d (%s)%s", prog, code, e.text, said))
		default:
			set(courier.Temp(e.dsn, "%s failed with exit status %d (%s)%s", prog, code, e.text, said))
		}
	default:
		set(courier.Temp("4.3.0", "cannot run %s: %v", c.argv[0], err))
	}
}

// maxOutput is how much of a program's output is kept: enough for a
// reason, without letting a chatty program fill memory.
const maxOutput = 4096

// firstLine is the first non-empty line of a program's output, as
// ": line", cut at 300 bytes, or "".
func firstLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if len(l) > 300 {
				l = l[:300] + "..."
			}
			return ": " + l
		}
	}
	return ""
}

// foregroundTTY reports whether this process has a controlling terminal
// and is in its foreground process group: a command typed at a shell,
// not the agent under systemd or a background delivery (setsid). A
// variable, for the tests of the process group to run at a terminal.
var foregroundTTY = func() bool {
	f, err := os.Open("/dev/tty")
	if err != nil {
		return false
	}
	defer f.Close()
	pg, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pg == syscall.Getpgrp()
}

// killTree kills pid, a program that shares homepost's process group,
// and every process that descends from it: a wrapper script's child
// (the real sendmail, ssh) that went on would hand over a message
// recorded as deferred. Each is stopped (SIGSTOP) as it is found, so
// that none starts another meanwhile, or loses its parent to a kill
// before its own children are found; then all are killed. The error is
// that of the kill of pid.
func killTree(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	tree := map[int]bool{pid: true}
	for grew := true; grew; {
		grew = false
		for child, parent := range parents() {
			if tree[parent] && !tree[child] {
				syscall.Kill(child, syscall.SIGSTOP)
				tree[child], grew = true, true
			}
		}
	}
	for p := range tree {
		if p != pid {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}

// parents maps each process of the system to its parent, as
// /proc/PID/stat says it.
func parents() map[int]int {
	m := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and ")".
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			m[pid] = ppid
		}
	}
	return m
}

// feed writes the message from r into the program's stdin, w, and
// closes w. Once the program has read all of it (nothing left in the
// pipe: FIONREAD, TIOCINQ on Linux), before the end of its input, it calls told: from then
// on the program may hand the message on whatever becomes of it, and a
// stop waits for its exit. A program that has not read it all when it
// exits (exited), or that is killed, never had it whole.
func feed(w *os.File, r io.Reader, exited <-chan struct{}, told func()) {
	defer w.Close()
	if _, err := io.Copy(w, r); err != nil {
		return
	}
	rc, err := w.SyscallConn()
	if err != nil {
		return
	}
	for {
		n, ierr := 0, error(nil)
		if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }); err != nil || ierr != nil {
			return
		}
		if n == 0 {
			told()
			return
		}
		select {
		case <-exited:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}
