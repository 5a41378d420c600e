package report

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestCheckUnitName(t *testing.T) {
	for _, ok := range []string{"backup.service", "homepost-notify@cron.service.service", `sys-devices-x\x2dy.device`, "a:b_c"} {
		if err := CheckUnitName(ok); err != nil {
			t.Errorf("CheckUnitName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "a b", "a/b", "a;b", "$(x)", "a\nb", strings.Repeat("a", 300)} {
		if CheckUnitName(bad) == nil {
			t.Errorf("CheckUnitName(%q) accepted", bad)
		}
	}
}

func FuzzCheckUnitName(f *testing.F) {
	f.Add("backup.service")
	f.Add("x@y.service")
	f.Fuzz(func(t *testing.T, u string) {
		if CheckUnitName(u) == nil && (strings.ContainsAny(u, " /;$`'\"\n") || strings.HasPrefix(u, "-")) {
			t.Errorf("accepted %q", u)
		}
	})
}

// Without systemctl and journalctl the report still names the unit and
// the host, and says why the rest is missing.
func TestUnitMessageWithoutSystemd(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("MONITOR_SERVICE_RESULT", "exit-code")
	b, err := io.ReadAll(Unit{Host: "h.example", To: "root", Name: "backup.service", Now: time.Unix(1700000000, 0)}.Message())
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		"To: root\nSubject: [h.example] unit backup.service failed\nAuto-Submitted: auto-generated\nMIME-Version: 1.0\n",
		"\n\nThe systemd unit backup.service on h.example failed (result: exit-code).\n",
		"(systemctl is not available on this host)\n",
		"Restart it with: systemctl --user restart backup.service\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
}
