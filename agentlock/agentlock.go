// Package agentlock answers, for a program that is about to start
// delivery, whether an agent already delivers for this user: the agent
// holds an exclusive flock on its lock file, which names its pid.
//
// It is a leaf of its own, apart from package agent, because sendmail
// asks after every message it queues: the question must cost an open
// and a flock, and its answer must not link the agent, its couriers and
// their TLS and SMTP code into the program that asks. The lock is taken
// by agent.TryLock; this package only looks at it.
package agentlock

import (
	"strconv"
	"strings"
	"syscall"
)

// Running reports whether a process holds the lock file at path, and
// the pid written in it (0 when unreadable). It opens the file with a
// plain open(2), not os.Open, so that the question registers nothing
// with the runtime's poller, and it never waits: the shared lock it
// tries is dropped at once.
func Running(path string) (pid int, running bool) {
	pid, _, running = State(path)
	return pid, running
}

// State is Running with the word after the pid (see ReadState): what
// the process that holds the lock is about.
func State(path string) (pid int, word string, running bool) {
	fd, err := open(path)
	if err != nil {
		return 0, "", false
	}
	defer syscall.Close(fd)
	if err := flock(fd, syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		flock(fd, syscall.LOCK_UN)
		return 0, "", false
	}
	pid, word = readState(fd)
	return pid, word, true
}

// ReadState reads the lock file at path: the holder's pid, and the word
// after it: "once" for a one-shot delivery, "stopping" for an agent
// that has begun to stop, "" for a daemon at work.
func ReadState(path string) (pid int, word string) {
	fd, err := open(path)
	if err != nil {
		return 0, ""
	}
	defer syscall.Close(fd)
	return readState(fd)
}

func open(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// readState parses "PID" or "PID WORD" from the start of the file.
func readState(fd int) (int, string) {
	var buf [64]byte
	n, err := syscall.Pread(fd, buf[:], 0)
	for err == syscall.EINTR {
		n, err = syscall.Pread(fd, buf[:], 0)
	}
	if err != nil || n <= 0 {
		return 0, ""
	}
	f := strings.Fields(string(buf[:n]))
	if len(f) == 0 {
		return 0, ""
	}
	pid, _ := strconv.Atoi(f[0])
	if len(f) > 1 {
		return pid, f[1]
	}
	return pid, ""
}
