package courier

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/config"
	"homepost/outbox"
)

// env is a temporary home for the made-up user alice.
type env struct {
	home string
	cfg  *config.Config
}

func newEnv(t *testing.T, extra string) *env {
	t.Helper()
	home := t.TempDir()
	conf := filepath.Join(home, "config.toml")
	text := fmt.Sprintf("hostname = \"box.example.org\"\nstate_dir = \"~/state\"\n%s\n", extra)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(conf, config.NewIdentity("alice", home, "Alice", os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	return &env{home: home, cfg: cfg}
}

const testMsg = "Return-Path: <bob@example.com>\nDelivered-To: alice@box.example.org\nSubject: hi\n\nbody\n"

// script writes an executable /bin/sh script and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCmd(t *testing.T, cfg *config.Config, command string) (outbox.Status, string, string) {
	t.Helper()
	env := NewCommandEnv(cfg, "bob@example.com", "alice+lists@box.example.org", "root")
	r := RunCommand(context.Background(), cfg, command, env, strings.NewReader(testMsg))
	return r.Status, r.DSN, r.Reason
}

func TestRunCommandExitCodes(t *testing.T) {
	e := newEnv(t, "")
	dir := t.TempDir()
	for _, tc := range []struct {
		body   string
		status outbox.Status
		dsn    string
		reason string
	}{
		{"cat >/dev/null; exit 0\n", outbox.Sent, "2.0.0", "delivered to command"},
		{"echo try later; exit 75\n", outbox.Deferred, "4.3.0", "exit status 75 (temporary failure): try later"},
		{"exit 71\n", outbox.Deferred, "4.3.0", "exit status 71"},
		{"echo oops >&2; exit 1\n", outbox.Bounced, "5.3.0", "exit status 1 (unknown error): oops"},
		{"echo no such user; exit 67\n", outbox.Bounced, "5.1.1", "exit status 67 (user unknown): no such user"},
		{"echo 5.2.2 mailbox full; exit 75\n", outbox.Bounced, "5.2.2", "exit status 75: mailbox full"},
		{"echo '4.2.2 over quota, later'; exit 1\n", outbox.Deferred, "4.2.2", "exit status 1: over quota, later"},
		{"kill -TERM $$\n", outbox.Deferred, "4.3.0", "killed by signal 15"},
		{"exit 0\n", outbox.Sent, "2.0.0", ""}, // reads nothing: fine
	} {
		p := script(t, dir, "s", tc.body)
		st, dsn, reason := runCmd(t, e.cfg, p)
		if st != tc.status || dsn != tc.dsn || !strings.Contains(reason, tc.reason) {
			t.Errorf("%q: %v %s %q, want %v %s ...%q", tc.body, st, dsn, reason, tc.status, tc.dsn, tc.reason)
		}
	}
}

func TestRunCommandEnvAndInput(t *testing.T) {
	e := newEnv(t, "")
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	p := script(t, dir, "s", "env | sort > "+out+".env; pwd > "+out+".pwd; cat > "+out+"\n")
	// No metacharacters: run directly, with the arguments split.
	if st, _, reason := runCmd(t, e.cfg, p+" -a b"); st != outbox.Sent {
		t.Fatalf("%v %s", st, reason)
	}
	if got, _ := os.ReadFile(out); string(got) != testMsg {
		t.Errorf("stdin = %q", got)
	}
	envText, _ := os.ReadFile(out + ".env")
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(envText)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	want := map[string]string{
		"SENDER": "bob@example.com", "RECIPIENT": "alice+lists@box.example.org",
		"ORIGINAL_RECIPIENT": "root", "LOCAL": "alice+lists", "EXTENSION": "lists",
		"DOMAIN": "box.example.org", "USER": "alice", "LOGNAME": "alice",
		"HOME": e.home, "PATH": "/usr/local/bin:/usr/bin:/bin",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	if got["SHELL"] == "" {
		t.Error("SHELL not set")
	}
	// Nothing of our own environment leaks (the shell adds PWD, SHLVL, _).
	for k := range got {
		if _, ok := want[k]; !ok && k != "SHELL" && k != "PWD" && k != "SHLVL" && k != "_" && k != "OLDPWD" {
			t.Errorf("unexpected variable %s=%s", k, got[k])
		}
	}
	if pwd, _ := os.ReadFile(out + ".pwd"); strings.TrimSpace(string(pwd)) != e.home {
		t.Errorf("working directory %q, want %q", pwd, e.home)
	}
}

func TestRunCommandShell(t *testing.T) {
	e := newEnv(t, "")
	out := filepath.Join(t.TempDir(), "out")
	// Metacharacters: through /bin/sh -c.
	if st, _, reason := runCmd(t, e.cfg, "grep -c body > "+out+" && echo $EXTENSION >> "+out); st != outbox.Sent {
		t.Fatalf("%v %s", st, reason)
	}
	if got, _ := os.ReadFile(out); string(got) != "1\nlists\n" {
		t.Errorf("output %q", got)
	}
	// Bare name found in the clean PATH.
	if st, _, reason := runCmd(t, e.cfg, "true"); st != outbox.Sent {
		t.Errorf("true: %v %s", st, reason)
	}
	st, dsn, reason := runCmd(t, e.cfg, "/nonexistent/prog arg")
	if st != outbox.Bounced || dsn != "5.3.0" || !strings.Contains(reason, "not found") {
		t.Errorf("missing: %v %s %q", st, dsn, reason)
	}
	// A bare name is looked up in the clean PATH only, never in the
	// working directory (the home).
	marker := filepath.Join(t.TempDir(), "ran")
	script(t, e.home, "no-such-program-xyz", "touch "+marker+"\n")
	st, _, reason = runCmd(t, e.cfg, "no-such-program-xyz")
	if st != outbox.Bounced || !strings.Contains(reason, "not found in /usr/local/bin:/usr/bin:/bin") {
		t.Errorf("missing in PATH: %v %q", st, reason)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a program in the home directory ran")
	}
}

func TestRunCommandTimeout(t *testing.T) {
	e := newEnv(t, "command_timeout = \"1s\"")
	dir := t.TempDir()
	// The shell's child keeps the pipes open: the whole group must die.
	p := script(t, dir, "s", "echo started; sleep 60 & sleep 60\n")
	start := time.Now()
	st, dsn, reason := runCmd(t, e.cfg, p)
	if st != outbox.Deferred || dsn != "4.3.0" || !strings.Contains(reason, "timed out after 1s: started") {
		t.Errorf("%v %s %q", st, dsn, reason)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestRunCommandOutputLimit(t *testing.T) {
	e := newEnv(t, "")
	dir := t.TempDir()
	p := script(t, dir, "s", "i=0; while [ $i -lt 2000 ]; do printf 'line %d\\n\\033' $i; i=$((i+1)); done; exit 1\n")
	_, _, reason := runCmd(t, e.cfg, p)
	_, after, _ := strings.Cut(reason, "(unknown error): ")
	if len(after) > maxOutput || !strings.HasPrefix(after, "line 0 ?line 1 ?line 2") {
		t.Errorf("reason %d bytes: %q", len(after), reason)
	}
}

// A command whose first word is a shell built-in or keyword runs through
// /bin/sh, as Postfix's local(8) runs it: "exit 75" defers, it is not
// "exit not found".
func TestRunCommandBuiltins(t *testing.T) {
	e := newEnv(t, "")
	for _, tc := range []struct {
		cmd    string
		status outbox.Status
		dsn    string
	}{
		{"exit 75", outbox.Deferred, "4.3.0"},
		{"exit 0", outbox.Sent, "2.0.0"},
		{"exit 67", outbox.Bounced, "5.1.1"},
		{"test -d " + e.home, outbox.Sent, "2.0.0"},
		{"test -d " + e.home + "/none", outbox.Bounced, "5.3.0"},
		{"if true; then cat >/dev/null; fi", outbox.Sent, "2.0.0"},
	} {
		st, dsn, reason := runCmd(t, e.cfg, tc.cmd)
		if st != tc.status || dsn != tc.dsn {
			t.Errorf("%q: %v %s %q, want %v %s", tc.cmd, st, dsn, reason, tc.status, tc.dsn)
		}
	}
	// A keyword ahead of metacharacters, writing where "~" says.
	os.Mkdir(filepath.Join(e.home, "x"), 0o700)
	if st, _, reason := runCmd(t, e.cfg, "test -d ~/x && cat >>~/x/log"); st != outbox.Sent {
		t.Fatalf("%v %s", st, reason)
	}
	if got, _ := os.ReadFile(filepath.Join(e.home, "x", "log")); string(got) != testMsg {
		t.Errorf("log %q", got)
	}
}
