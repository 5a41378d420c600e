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

// input reads command and message lines. From a terminal it waits with
// poll so that an interrupt can end the wait without a reader goroutine
// stealing what a pager or a shell escape should read.
type input struct {
	f     *os.File
	br    *bufio.Reader
	tty   bool
	intr  atomic.Int64 // interrupts received
	taken int64        // interrupts already reported
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
		signal.Notify(c, os.Interrupt)
		done := make(chan struct{})
		go func() {
			for {
				select {
				case <-c:
					in.intr.Add(1)
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
		for in.br.Buffered() == 0 {
			if in.interrupted() {
				return "", errInterrupt
			}
			fds := []unix.PollFd{{Fd: int32(in.f.Fd()), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 200)
			if err != nil && !errors.Is(err, syscall.EINTR) {
				return "", err
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
