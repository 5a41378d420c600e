package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// Job is a finished command run by Run.
type Job struct {
	Argv    []string
	Start   time.Time
	Elapsed time.Duration
	Status  int    // exit status as a shell reports it
	How     string // "exit 3", "exit 137, killed by signal 9 (killed)", "exit 127, cannot run"
	Detail  string // why it could not be started, or its output not read
	// Output holds the first Kept bytes the command printed, standard
	// output and error merged: an unlinked temporary file, closed by
	// Close.
	Output *os.File
	Size   int64 // bytes printed, including dropped ones
	Kept   int64 // bytes kept in Output
	// StartErr is why the command could not be started (Status is then
	// 127 or 126, as a shell's).
	StartErr error
}

// Silent reports whether the job succeeded and printed nothing.
func (j *Job) Silent() bool { return j.Status == 0 && j.Size == 0 && j.StartErr == nil }

// Close releases the spooled output.
func (j *Job) Close() error { return j.Output.Close() }

// Run runs argv with standard input passed through and standard output
// and error on one pipe, so that their lines keep the order the job
// wrote them in, and spools what it prints, up to max bytes, to an
// unlinked temporary file (the output may be larger than memory). The
// signals that ask a job to stop (TERM, INT, HUP, QUIT) are passed on to
// it; Run waits for it to end. A command that cannot be started is a
// Job with StartErr, not an error: the error is for a spool that cannot
// be made.
func Run(argv []string, max int64) (*Job, error) {
	spool, err := os.CreateTemp("", "homepost-cron-*")
	if err != nil {
		return nil, fmt.Errorf("spool output: %w", err)
	}
	os.Remove(spool.Name())
	r := &Job{Argv: argv, Output: spool, Start: time.Now()}

	pr, pw, err := os.Pipe()
	if err != nil {
		spool.Close()
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = os.Stdin
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		r.Elapsed = time.Since(r.Start)
		r.StartErr = err
		r.Status = 126
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			r.Status = 127
		}
		r.How = fmt.Sprintf("exit %d, cannot run", r.Status)
		r.Detail = err.Error()
		return r, nil
	}
	pw.Close()

	// Pass on the signals that ask the job to stop; the wrapper waits to
	// report how it ended.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()

	w := bufio.NewWriterSize(spool, 64<<10)
	n, copyErr := io.Copy(&LimitWriter{W: w, N: max}, pr)
	pr.Close()
	waitErr := cmd.Wait()
	close(done)
	signal.Stop(sigs)
	r.Elapsed = time.Since(r.Start)
	r.Size = n
	if err := w.Flush(); err != nil && copyErr == nil {
		copyErr = err
	}
	r.Kept = min(n, max)
	if copyErr != nil {
		r.Detail = "reading the output: " + copyErr.Error()
	}

	st := cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.Status = 128 + int(ws.Signal())
		r.How = fmt.Sprintf("exit %d, killed by signal %d (%v)", r.Status, int(ws.Signal()), ws.Signal())
	} else {
		r.Status = st.ExitCode()
		r.How = "exit " + strconv.Itoa(r.Status)
	}
	if waitErr != nil && r.Status == 0 {
		r.Status, r.How = 1, waitErr.Error()
	}
	return r, nil
}
