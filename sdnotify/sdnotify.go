// Package sdnotify speaks systemd's notification protocol (sd_notify(3)):
// a datagram of "KEY=VALUE" lines sent to the socket named by
// $NOTIFY_SOCKET. It lets a Type=notify unit say when it is ready, that it
// is still alive (WatchdogSec=) and that it is stopping.
//
// Outside systemd $NOTIFY_SOCKET is unset and every call does nothing, so
// callers need no special case. The protocol is a few lines of code, not
// worth a dependency.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// send writes one notification. It returns nil when not run by systemd.
func send(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	// A leading '@' names a Linux abstract socket; the net package maps
	// it to the leading NUL byte itself.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", state, err)
	}
	return nil
}

// Ready tells systemd that start-up is complete (READY=1): a Type=notify
// unit counts as started, and units ordered after it may start. The error
// is worth logging, never fatal.
func Ready() error { return send("READY=1\nMAINPID=" + strconv.Itoa(os.Getpid())) }

// Stopping tells systemd that an orderly shutdown has begun (STOPPING=1),
// so that a slow drain is not mistaken for a hang.
func Stopping() { _ = send("STOPPING=1") }

// Watchdog tells systemd that the service is alive (WATCHDOG=1). Call it
// every WatchdogInterval from the loop whose liveness it vouches for.
func Watchdog() { _ = send("WATCHDOG=1") }

// WatchdogInterval returns how often to call Watchdog: half of the unit's
// WatchdogSec=, as sd_watchdog_enabled(3) advises, or 0 when no watchdog
// is set for this process.
func WatchdogInterval() time.Duration {
	return watchdogInterval(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
}

// watchdogInterval reads $WATCHDOG_USEC and $WATCHDOG_PID; the watchdog is
// ours only when WATCHDOG_PID is unset or names this process (it is
// inherited by children otherwise).
func watchdogInterval(usec, pid string, self int) time.Duration {
	if usec == "" {
		return 0
	}
	if pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil || p != self {
			return 0
		}
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 || n > uint64(time.Duration(1<<62)/time.Microsecond) {
		return 0
	}
	return time.Duration(n) * time.Microsecond / 2
}
