// Package capture runs commands and keeps what they print, bounded: a
// cron job whose output is mailed (Run), a systemctl or journalctl whose
// output goes into a report (Output), a |command delivery target or an
// exec: relay whose last words become a bounce reason (LimitWriter).
//
// A command's output is untrusted and may be endless. Every reader here
// keeps at most a fixed number of bytes and drains the rest, counting
// it, so that the command never blocks on a full pipe nor dies of
// SIGPIPE because of us, and a runaway job cannot fill the disk or the
// memory.
package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// LimitWriter passes the first N bytes on to W and discards the rest
// while reporting them written, so that a writer into it (a command's
// stdout) never fails or blocks because of the limit. N counts down.
type LimitWriter struct {
	W io.Writer
	N int64
}

// Write writes what still fits. It fails only when W does.
func (l *LimitWriter) Write(p []byte) (int, error) {
	if l.N > 0 {
		k := min(int64(len(p)), l.N)
		if _, err := l.W.Write(p[:k]); err != nil {
			return 0, err
		}
		l.N -= k
	}
	return len(p), nil
}

// Output runs argv with a timeout and returns its merged standard output
// and error, at most max bytes. The environment asks systemd's tools for
// no colours and no pager. A non-zero exit is not an error (systemctl
// status exits 3 for a failed unit) unless the command printed nothing;
// a missing program and a timeout are.
func Output(argv []string, timeout time.Duration, max int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "PAGER=cat")
	cmd.Stdin = nil
	// On timeout the whole process group is killed, and the output is
	// waited for a moment at most: a grandchild that holds it (a pager,
	// a helper of journalctl) must not hold the caller too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	lw := &LimitWriter{W: &out, N: max}
	cmd.Stdout, cmd.Stderr = lw, lw
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // it exited; a grandchild still holds the output
	}
	if errors.Is(err, exec.ErrNotFound) {
		return nil, fmt.Errorf("%s is not available on this host", argv[0])
	}
	if ctx.Err() != nil {
		return out.Bytes(), fmt.Errorf("%s timed out after %v", argv[0], timeout)
	}
	var xe *exec.ExitError
	if err != nil && !errors.As(err, &xe) {
		return out.Bytes(), err
	}
	if err != nil && out.Len() == 0 {
		return nil, fmt.Errorf("%s exited %d and printed nothing", argv[0], xe.ExitCode())
	}
	return out.Bytes(), nil
}
