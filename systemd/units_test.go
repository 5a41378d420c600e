// Package systemd holds homepost's systemd user units; this test checks
// them. The units are installed by mk/install.mk, which replaces @BINDIR@
// with the directory of the installed binary.
package systemd

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var units = []string{"homepost.service", "homepost-notify@.service", "homepost-smtp.socket"}

// unitFile is a parsed unit: section → key → values in order.
type unitFile map[string]map[string][]string

// parseUnit reads systemd's INI dialect: [Section], Key=Value, comments
// starting with # or ;, and backslash continuation lines.
func parseUnit(data []byte) (unitFile, error) {
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<20)
	var cont string
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cont != "" {
			line = cont + " " + line
			cont = ""
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cont = strings.TrimSuffix(line, `\`)
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, fmt.Errorf("line %d: bad section header %q", n, line)
			}
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: not KEY=VALUE: %q", n, line)
		}
		if section == "" {
			return nil, fmt.Errorf("line %d: key outside a section", n)
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], strings.TrimSpace(v))
	}
	return u, sc.Err()
}

func (u unitFile) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func load(t *testing.T, name string) unitFile {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return u
}

// known lists the keys the units may use: a typo (systemd only warns
// and ignores it) fails here.
var known = map[string][]string{
	"Unit": {"Description", "Documentation", "OnFailure", "StartLimitIntervalSec", "StartLimitBurst", "After", "Wants"},
	"Service": {"Type", "ExecStart", "ExecReload", "Restart", "RestartSec", "WatchdogSec", "TimeoutStopSec", "KillMode",
		"NoNewPrivileges", "PrivateTmp", "ProtectSystem", "ReadWritePaths", "Environment",
		"RuntimeDirectory", "RuntimeDirectoryMode", "RuntimeDirectoryPreserve"},
	"Socket":  {"ListenStream", "SocketMode", "DirectoryMode", "Service"},
	"Install": {"WantedBy"},
}

func checkKnown(t *testing.T, name string, u unitFile) {
	for sec, keys := range u {
		allowed, ok := known[sec]
		if !ok {
			t.Errorf("%s: unknown section [%s]", name, sec)
			continue
		}
		for k := range keys {
			if !slices.Contains(allowed, k) {
				t.Errorf("%s: unknown key %s in [%s]", name, k, sec)
			}
		}
	}
}

func TestAgentUnitKeys(t *testing.T) {
	u := load(t, "homepost.service")
	checkKnown(t, "homepost.service", u)
	for _, c := range []struct{ sec, key, want string }{
		{"Service", "Type", "notify"},
		{"Service", "ExecStart", "@BINDIR@/homepost agent"},
		{"Service", "Restart", "on-failure"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "PrivateTmp", "yes"},
		{"Service", "ProtectSystem", "strict"},
		{"Unit", "OnFailure", "homepost-notify@%n.service"},
		{"Install", "WantedBy", "default.target"},
		// ProtectSystem=strict leaves $XDG_RUNTIME_DIR read-only: the
		// agent's SMTP socket needs a directory of its own there.
		{"Service", "RuntimeDirectory", "homepost"},
		{"Service", "RuntimeDirectoryMode", "0700"},
		{"Service", "RuntimeDirectoryPreserve", "yes"},
	} {
		if got := u.get(c.sec, c.key); got != c.want {
			t.Errorf("homepost.service [%s] %s=%q, want %q", c.sec, c.key, got, c.want)
		}
	}
	if u.get("Service", "WatchdogSec") == "" {
		t.Error("homepost.service has no WatchdogSec=")
	}
	// ProtectSystem=strict makes everything read-only: the home (outbox,
	// store, .forward targets) must be writable again.
	rw := strings.Fields(strings.Join(u["Service"]["ReadWritePaths"], " "))
	for _, p := range []string{"%h", "-%S/homepost"} {
		if !slices.Contains(rw, p) {
			t.Errorf("homepost.service ReadWritePaths=%v lacks %s", rw, p)
		}
	}
}

func TestNotifyUnitKeys(t *testing.T) {
	u := load(t, "homepost-notify@.service")
	checkKnown(t, "homepost-notify@.service", u)
	for _, c := range []struct{ sec, key, want string }{
		{"Service", "Type", "oneshot"},
		{"Service", "ExecStart", "@BINDIR@/homepost notify %i"},
	} {
		if got := u.get(c.sec, c.key); got != c.want {
			t.Errorf("homepost-notify@.service [%s] %s=%q, want %q", c.sec, c.key, got, c.want)
		}
	}
	// A failing notifier must not notify about itself, forever.
	if v := u.get("Unit", "OnFailure"); v != "" {
		t.Errorf("homepost-notify@.service has OnFailure=%s", v)
	}
	if _, ok := u["Install"]; ok {
		t.Error("homepost-notify@.service is a template for OnFailure=, not to be enabled")
	}
}

// The socket unit starts the agent itself (not a service of its own
// name) on the socket the agent would open, in a directory only the
// user can enter.
func TestSMTPSocketUnitKeys(t *testing.T) {
	u := load(t, "homepost-smtp.socket")
	checkKnown(t, "homepost-smtp.socket", u)
	for _, c := range []struct{ sec, key, want string }{
		{"Socket", "ListenStream", "%t/homepost/smtp"},
		{"Socket", "SocketMode", "0600"},
		{"Socket", "DirectoryMode", "0700"},
		{"Socket", "Service", "homepost.service"},
		{"Install", "WantedBy", "sockets.target"},
	} {
		if got := u.get(c.sec, c.key); got != c.want {
			t.Errorf("homepost-smtp.socket [%s] %s=%q, want %q", c.sec, c.key, got, c.want)
		}
	}
}

// TestVerify runs systemd-analyze verify over the units as installed
// (with @BINDIR@ replaced). systemd-analyze exits 0 even for unknown keys
// and bad values, so any diagnostic naming a unit fails the test.
func TestVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("SKIP: systemd-analyze is not installed; unit keys are checked by the other tests")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "homepost"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, name := range units {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.ReplaceAll(data, []byte("@BINDIR@"), []byte(bin))
		// A template is verified through an instance of it.
		inst := strings.Replace(name, "@.", "@cron.service.", 1)
		p := filepath.Join(dir, inst)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(sa, append(args, paths...)...)
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+dir, "SYSTEMD_LOG_COLOR=0")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("--user", "verify", "--man=no")
	if strings.Contains(out, "Failed to initialize manager") || strings.Contains(out, "Failed to lookup RuntimeDirectory") {
		t.Logf("--user verify cannot run here (%s); verifying as system units", strings.TrimSpace(out))
		out, err = run("verify", "--man=no")
		if strings.Contains(out, "Failed to initialize manager") {
			t.Skipf("SKIP: systemd-analyze verify cannot run here: %s", out)
		}
	}
	var bad []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, dir) || strings.Contains(line, "homepost") {
			bad = append(bad, line)
		}
	}
	if err != nil || len(bad) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, strings.Join(bad, "\n"))
	}
}

func FuzzParseUnit(f *testing.F) {
	for _, name := range units {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("[A]\nK=v\\\n  w\n;c\n#c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parseUnit(data)
	})
}
