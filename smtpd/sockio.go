package smtpd

import (
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// sockIO reads and writes a session's socket with the read(2) and
// write(2) system calls made raw (syscall.RawSyscall), and waits for the
// socket through the runtime's poller as net.Conn does (syscall.RawConn).
//
// Why: a read or write through net.Conn enters the runtime's system-call
// state, and the first one after every process-wide idle spell wakes the
// runtime's monitor thread (sysmon) from its sleep, which then polls
// every 20 µs until everything is idle again. One connection that waits
// for each reply idles four times a message; on a virtual machine whose
// context switches are dear, the monitor's wake-ups took about a sixth
// of the agent's time, and over one connection the raw calls took the
// agent's time a message from 1.48 to 1.28 ms and the messages a second
// from 511 to 618 (make bench's client, 2,000 messages, two runs each).
// A read or write of a non-blocking socket never blocks, which is what
// a raw system call is for; the waits (and the deadlines) stay the
// poller's.
//
// A read that finds nothing to read may also try again for a moment
// before it waits (spinWait, when spin says so): see there.
type sockIO struct {
	c    net.Conn // for the addresses in errors
	rc   syscall.RawConn
	spin func() bool // whether a read may spin now; nil: never
	// wait is how long a read spins (spinWait when the sockIO was made:
	// a test changes its own, never the sessions' of another test).
	wait time.Duration
	// waits counts the reads that waited for the poller (for the tests).
	waits int
}

// spinWait is how long a read that finds the socket empty keeps trying
// again before it waits for the poller, while spin allows (the server:
// while its session is the only one, and the user's own). A client that sends one message
// after another sends its next command some tens of microseconds after
// the reply it waited for; a read that waits for it through the poller
// puts the thread to sleep and has the kernel wake it, which costs about
// as much again on a virtual machine, four times a message. Measured
// with make bench's client (2,000 messages over one connection, four
// alternating pairs), the medians from a command to its reply went
// from 72–79 to 64–70 µs for MAIL, 66–71 to 47–57 for RCPT and 49–55 to
// 38–40 for DATA, and the messages a second from 1167, 1176, 1197, 1335
// to 1195, 1200, 1265, 1183 (the last pair's disk flushes were slower
// for the second). It costs a core for at most spinWait at each wait,
// and only while one session runs: with two or more, the time spun
// would be taken from the others and from their clients, on the same
// cores (eight connections do not spin: 2403 and 2266 messages a second
// before, 2421 and 2506 after).
const spinWait = 150 * time.Microsecond

// newSockIO returns the raw I/O of c, or nil when c has no descriptor
// (a pipe in the tests): the caller then uses c itself. spin, when not
// nil, says whether a read may spin (spinWait).
func newSockIO(c net.Conn, spin func() bool) *sockIO {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &sockIO{c: c, rc: rc, spin: spin, wait: spinWait}
}

func (s *sockIO) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	var until time.Time // the end of the spin; zero: not begun
	spun := false
	err := s.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				if !spun && s.spin != nil && s.spin() {
					if until.IsZero() {
						until = time.Now().Add(s.wait)
					}
					if time.Now().Before(until) {
						runtime.Gosched() // what else this thread has to run
						continue
					}
				}
				spun = true // once: the poller's wake-ups are not spun on
				s.waits++
				return false // wait for the poller
			}
			n, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, s.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (s *sockIO) Write(p []byte) (int, error) {
	var n int
	var errno syscall.Errno
	err := s.rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n))
			switch e {
			case 0:
				n += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // the socket's buffer is full: wait
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if err == nil && errno != 0 {
		err = s.opError("write", os.NewSyscallError("write", errno))
	}
	return n, err
}

// opError is the error net.Conn would have returned. (The poller's own
// errors, a deadline passed or the connection closed, come as
// *net.OpError already.)
func (s *sockIO) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: s.c.LocalAddr().Network(), Source: s.c.LocalAddr(), Addr: s.c.RemoteAddr(), Err: err}
}
