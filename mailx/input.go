package mailx

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// errInterrupt is returned by readLine when the user pressed the
// interrupt key (^C) while it waited for a line.
var errInterrupt = errors.New("interrupt")

// errHangup is returned by readLine once the terminal hung up (SIGHUP:
// an ssh connection dropped, a terminal window closed) or the process
// was asked to end (SIGTERM): what is being composed is saved to
// dead.letter, as BSD mail and s-nail save it, and mail ends.
var errHangup = errors.New("hangup")

// input reads command and message lines. From a terminal it waits with
// poll so that an interrupt can end the wait without a reader goroutine
// stealing what a pager or a shell escape should read.
type input struct {
	f     *os.File
	br    *bufio.Reader
	tty   bool
	intr  atomic.Int64 // interrupts received
	taken int64        // interrupts already reported
	hup   atomic.Bool  // SIGHUP or SIGTERM received
	stop  func()
}

// isTerminal reports whether fd is a terminal.
func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

func newInput(f *os.File) *input {
	in := &input{f: f, br: bufio.NewReaderSize(f, 64<<10), tty: isTerminal(int(f.Fd()))}
	if in.tty {
		c := make(chan os.Signal, 4)
		signal.Notify(c, os.Interrupt, syscall.SIGHUP, syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			for {
				select {
				case sig := <-c:
					if sig == os.Interrupt {
						in.intr.Add(1)
						continue
					}
					in.hup.Store(true)
				case <-done:
					return
				}
			}
		}()
		in.stop = func() { signal.Stop(c); close(done) }
	}
	return in
}

func (in *input) close() {
	if in.stop != nil {
		in.stop()
	}
}

// interrupted reports (once) an interrupt received since the last call.
func (in *input) interrupted() bool {
	if n := in.intr.Load(); n > in.taken {
		in.taken = n
		return true
	}
	return false
}

// readLine reads one line without its newline. At the end of input it
// returns io.EOF (a terminal can be read again after ^D).
func (in *input) readLine() (string, error) {
	if in.tty {
		if in.hup.Load() && in.br.Buffered() == 0 {
			return "", errHangup
		}
		for in.br.Buffered() == 0 {
			if in.hup.Load() {
				return "", errHangup
			}
			if in.interrupted() {
				return "", errInterrupt
			}
			fds := []unix.PollFd{{Fd: int32(in.f.Fd()), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 200)
			if err != nil && !errors.Is(err, syscall.EINTR) {
				return "", err
			}
			if n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
				// The terminal hung up: its SIGHUP may come late,
				// or go to the shell only. What it still holds is
				// read; its end is a hangup, not a ^D.
				in.hup.Store(true)
			}
			if n > 0 {
				break
			}
		}
	}
	line, err := in.br.ReadString('\n')
	if err == io.EOF && line != "" {
		err = nil
	}
	if err != nil && in.tty && (in.hup.Load() || errors.Is(err, syscall.EIO)) {
		// The terminal is gone: a read after the hangup fails (EIO)
		// or ends, and the signal may come just after.
		return "", errHangup
	}
	if err != nil {
		return "", err
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n > 1 && line[n-2] == '\r' {
			line = line[:n-2]
		}
	}
	return line, nil
}

// termSize returns the terminal's width and height, or 80x24.
func termSize() (int, int) {
	for _, fd := range []int{1, 0, 2} {
		if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil && ws.Col > 0 && ws.Row > 0 {
			return int(ws.Col), int(ws.Row)
		}
	}
	return 80, 24
}
