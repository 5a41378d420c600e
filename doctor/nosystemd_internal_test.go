package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/config"
)

// A listener named in [smtp] (TCP addresses, or a socket path of the
// user's own) needs a running agent: the crontab line starts one, and
// the advice says how. The default socket alone keeps the flush line.
func TestCrontabLineListener(t *testing.T) {
	systemdAt(t, false)
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOMEPOST_CONFIG", "")
	cfg := config.Defaults(config.NewIdentity("alice", home, "Alice", os.Getuid()))
	if l := CrontabLine(cfg); !strings.Contains(l, " flush >>") {
		t.Errorf("default socket only: %q", l)
	}
	cfg.SMTP.Listen = []string{"127.0.0.1:2525"}
	if l := CrontabLine(cfg); !strings.HasSuffix(l, " agent >>"+cfg.LogPath()+" 2>&1") {
		t.Errorf("listen set: %q", l)
	}
	if a := AgentAdvice(cfg); !strings.Contains(a, "homepost check --crontab") || !strings.Contains(a, "homepost agent") {
		t.Errorf("advice with a listener: %q", a)
	}
	cfg.SMTP.Enabled = false
	if l := CrontabLine(cfg); !strings.Contains(l, " flush >>") {
		t.Errorf("listener off: %q", l)
	}
	cfg.SMTP.Enabled, cfg.SMTP.Listen = true, nil
	cfg.SMTP.Socket = filepath.Join(home, "sock", "smtp")
	if l := CrontabLine(cfg); !strings.Contains(l, " agent >>") {
		t.Errorf("a socket of the user's own: %q", l)
	}
}

// With deliver_without_agent = false only a running agent retries: a
// flush at boot would try once and leave deferred mail, and what is
// sent later, waiting. The crontab line starts the agent, and the
// advice says why.
func TestCrontabLineNoBackgroundDelivery(t *testing.T) {
	systemdAt(t, false)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOMEPOST_CONFIG", "")
	cfg := config.Defaults(config.NewIdentity("alice", t.TempDir(), "Alice", os.Getuid()))
	cfg.DeliverWithoutAgent = false
	if l := CrontabLine(cfg); !strings.HasSuffix(l, " agent >>"+cfg.LogPath()+" 2>&1") {
		t.Errorf("deliver_without_agent = false: %q", l)
	}
	if a := AgentAdvice(cfg); !strings.Contains(a, "deliver_without_agent = false") || !strings.Contains(a, "start homepost agent") || !strings.Contains(a, "@reboot homepost agent") || strings.Contains(a, "flush") {
		t.Errorf("advice with deliver_without_agent = false: %q", a)
	}
}

// A port below net.ipv4.ip_unprivileged_port_start cannot be opened by
// an agent that runs as a user: check FAILs it before the agent runs.
func TestCheckPrivilegedPort(t *testing.T) {
	systemdAt(t, false)
	f := filepath.Join(t.TempDir(), "ip_unprivileged_port_start")
	os.WriteFile(f, []byte("1024\n"), 0o644)
	old := portStartFile
	portStartFile = f
	t.Cleanup(func() { portStartFile = old })
	home := t.TempDir()
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	cfg := config.Defaults(config.NewIdentity("alice", home, "Alice", 1001))
	cfg.SMTP.Listen = []string{"127.0.0.1:587", "127.0.0.1:2525"}
	var b strings.Builder
	c := &checker{w: &b}
	checkSMTP(c, cfg)
	out := b.String()
	if !c.failed || !strings.Contains(out, "FAIL smtp: tcp:127.0.0.1:587: ") || !strings.Contains(out, "1024") || !strings.Contains(out, "2525") {
		t.Errorf("port 587 as uid 1001:\n%s", out)
	}
	if strings.Contains(out, "FAIL smtp: tcp:127.0.0.1:2525") {
		t.Errorf("port 2525 FAILed:\n%s", out)
	}
	// root may.
	cfg = config.Defaults(config.NewIdentity("root", home, "root", 0))
	cfg.SMTP.Listen = []string{"127.0.0.1:587"}
	b.Reset()
	c = &checker{w: &b}
	checkSMTP(c, cfg)
	if strings.Contains(b.String(), "1024") {
		t.Errorf("port 587 as root:\n%s", b.String())
	}
}

// No [relay] from, and a host name that is no mail domain: remote mail
// leaves as USER@HOST, which providers refuse; check warns.
func TestCheckRelayFrom(t *testing.T) {
	cfg := config.Defaults(config.NewIdentity("alice", t.TempDir(), "Alice", os.Getuid()))
	cfg.Relay.URL = "smtp://127.0.0.1:2525"
	for _, c := range []struct {
		host, from string
		warn       bool
	}{
		{"vm", "", true},
		{"vm.example.org", "", false},
		{"vm", "alice@example.org", false},
	} {
		cfg.Hostname, cfg.Relay.From = c.host, c.from
		var b strings.Builder
		checkRelay(&checker{w: &b}, cfg, false)
		got := strings.Contains(b.String(), `warn relay: no from: remote mail leaves as alice@`+c.host+`: set from = "you@your-provider" in [relay]`)
		if got != c.warn {
			t.Errorf("hostname %q, from %q: warned %v:\n%s", c.host, c.from, got, b.String())
		}
	}
}
