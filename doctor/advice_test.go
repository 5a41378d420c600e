package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/config"
)

// The crontab line runs homepost by its absolute path, carries the
// environment that places the configuration and the queue only when it
// is not the default (quoted for sh), and appends to the agent's log.
func TestCrontabLine(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOMEPOST_CONFIG", "")
	cfg := config.Defaults(config.NewIdentity("alice", home, "Alice", os.Getuid()))
	line := CrontabLine(cfg)
	if !strings.HasPrefix(line, "@reboot /") || strings.Contains(line, "XDG_") || strings.Contains(line, "HOMEPOST_CONFIG") ||
		!strings.HasSuffix(line, " flush >>"+cfg.LogPath()+" 2>&1") {
		t.Errorf("defaults: %q", line)
	}
	t.Setenv("HOMEPOST_CONFIG", "/etc/my homepost.toml")
	t.Setenv("XDG_STATE_HOME", "/var/tmp/it's")
	line = CrontabLine(cfg)
	if !strings.Contains(line, `HOMEPOST_CONFIG='/etc/my homepost.toml' `) || !strings.Contains(line, `XDG_STATE_HOME='/var/tmp/it'\''s' `) {
		t.Errorf("moved: %q", line)
	}
	t.Setenv("XDG_STATE_HOME", "/tmp/a%b")
	if line = CrontabLine(cfg); !strings.Contains(line, `XDG_STATE_HOME='/tmp/a\%b' `) || strings.Count(line, "%") != strings.Count(line, `\%`) {
		t.Errorf("a %% not escaped for cron: %q", line)
	}
}

// Without a systemd user instance, the advice never names systemctl.
func TestAgentAdviceWithoutSystemd(t *testing.T) {
	systemdAt(t, false)
	cfg := config.Defaults(config.NewIdentity("alice", t.TempDir(), "Alice", os.Getuid()))
	if a := AgentAdvice(cfg); strings.Contains(a, "systemctl") || !strings.Contains(a, "@reboot homepost flush") {
		t.Errorf("%q", a)
	}
	if a := agentAdvice(cfg); strings.Contains(a, "systemctl") {
		t.Errorf("%q", a)
	}
}
