package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listen makes a notification socket like systemd's and points
// $NOTIFY_SOCKET at it.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return c
}

func recv(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	c := listen(t, filepath.Join(t.TempDir(), "notify"))
	if err := Ready(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, c); !strings.HasPrefix(got, "READY=1\nMAINPID=") {
		t.Errorf("Ready sent %q", got)
	}
	Watchdog()
	if got := recv(t, c); got != "WATCHDOG=1" {
		t.Errorf("Watchdog sent %q", got)
	}
	Stopping()
	if got := recv(t, c); got != "STOPPING=1" {
		t.Errorf("Stopping sent %q", got)
	}
}

func TestAbstractSocket(t *testing.T) {
	c := listen(t, "@homepost-sdnotify-test-"+time.Now().Format("150405.000000000"))
	if err := Ready(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, c); !strings.HasPrefix(got, "READY=1") {
		t.Errorf("Ready sent %q", got)
	}
}

func TestNoSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Ready(); err != nil {
		t.Errorf("Ready outside systemd: %v", err)
	}
	Watchdog()
	Stopping()
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing"))
	if err := Ready(); err == nil {
		t.Error("Ready to a missing socket: no error")
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, c := range []struct {
		usec, pid string
		want      time.Duration
	}{
		{"", "", 0},
		{"60000000", "", 30 * time.Second},
		{"60000000", "42", 30 * time.Second},
		{"60000000", "43", 0},
		{"60000000", "x", 0},
		{"0", "", 0},
		{"-5", "", 0},
		{"abc", "", 0},
		{"99999999999999999999999", "", 0},
	} {
		if got := watchdogInterval(c.usec, c.pid, 42); got != c.want {
			t.Errorf("watchdogInterval(%q, %q) = %v, want %v", c.usec, c.pid, got, c.want)
		}
	}
	t.Setenv("WATCHDOG_USEC", "2000000")
	t.Setenv("WATCHDOG_PID", "")
	if got := WatchdogInterval(); got != time.Second {
		t.Errorf("WatchdogInterval = %v", got)
	}
}

func FuzzWatchdogInterval(f *testing.F) {
	f.Add("60000000", "")
	f.Add("1", "1")
	f.Add("9223372036854775807", "")
	f.Fuzz(func(t *testing.T, usec, pid string) {
		if d := watchdogInterval(usec, pid, 1); d < 0 {
			t.Errorf("negative interval %v", d)
		}
	})
}
