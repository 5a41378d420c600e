package settings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An outbox that cannot be made is a configuration error for root too,
// to whom access(2) says yes to every directory: /proc and /sys take no
// directories of anyone's (mkdir there fails, whatever the mode says).
func TestUnusableQueueForRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the case is root's: for other users access(2) refuses these places")
	}
	home := t.TempDir()
	for _, tc := range []struct{ outbox, want string }{
		{"/proc/q", "/proc/q cannot be made: /proc is on the proc file system"},
		{"/proc/q/r", "/proc/q/r cannot be made: /proc is on the proc file system"},
		{"/sys/q", "/sys/q cannot be made: /sys is on the sysfs file system"},
		{"/proc", "/proc is on the proc file system"},
	} {
		c := Defaults(NewIdentity("root", home, "", 0))
		c.Outbox = tc.outbox
		key, why := c.UnusableQueue()
		if key != "outbox" || !strings.Contains(why, tc.want) {
			t.Errorf("outbox %s: %q %q, want outbox and %q", tc.outbox, key, why, tc.want)
		}
		if e := c.CheckQueue(); e == nil || e.Key != "outbox" {
			t.Errorf("outbox %s: CheckQueue %v, want an error of outbox", tc.outbox, e)
		}
	}
	// A place root can use is not refused.
	c := Defaults(NewIdentity("root", home, "", 0))
	c.Outbox = filepath.Join(home, "q")
	if key, why := c.UnusableQueue(); why != "" {
		t.Errorf("outbox %s: %s %s", c.Outbox, key, why)
	}
}
