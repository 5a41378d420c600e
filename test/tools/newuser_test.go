package tools

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// What a new user meets in the first hour: the messages of sendmail,
// check and flush as a person reads them.

// TestSendmailNamesUnknownOption: a long option is named whole, not by
// its second dash.
func TestSendmailNamesUnknownOption(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ arg, want string }{
		{"--frobnicate", "unknown option --frobnicate"},
		{"-tZ", "unknown option -Z in -tZ"},
	} {
		_, stderr, code := e.run("", "sendmail", tc.arg, "root")
		if code != 64 {
			t.Errorf("sendmail %s: exit %d, want 64", tc.arg, code)
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("sendmail %s: stderr %q does not say %q", tc.arg, stderr, tc.want)
		}
	}
}

// TestCheckIsQuick: homepost check answers as fast as the other
// commands. On a machine without systemd it asks neither systemctl nor
// loginctl (each a process and a D-Bus round trip), and a program it
// does run (crontab) runs beside the other checks, not after them.
// The stand-ins here take a second each, so the old sequence takes
// three.
func TestCheckIsQuick(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs this machine: check asks it about the unit")
	}
	e := saneEnv(t)
	tools := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	for _, name := range []string{"systemctl", "loginctl", "crontab"} {
		script := "#!/bin/sh\necho " + name + " >> " + calls + "\nsleep 1\n"
		if name == "crontab" {
			script += "echo '@daily " + bin + " cron -- true'\n"
		}
		if err := os.WriteFile(filepath.Join(tools, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.extra = []string{"PATH=" + tools + ":/usr/bin:/bin"}
	start := time.Now()
	out, _ := e.check()
	took := time.Since(start)
	b, _ := os.ReadFile(calls)
	if got := strings.Fields(string(b)); len(got) != 1 || got[0] != "crontab" {
		t.Errorf("check ran %v, want only crontab", got)
	}
	if !hasLine(out, "ok   cron: all 1 job(s) run under homepost cron") {
		t.Errorf("crontab not read:\n%s", out)
	}
	// One second of crontab, and nothing after it.
	if took > 1900*time.Millisecond {
		t.Errorf("check took %v with tools that take a second each", took)
	}
}

// flushIn runs homepost flush with its standard error on a terminal
// and returns what the terminal showed.
func (e *env) flushIn(t *testing.T) string {
	t.Helper()
	pty, tty := testenv.OpenPTY(t)
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&out, pty) // ends with EIO once the terminal is closed
		close(done)
	}()
	cmd := exec.Command(bin, "flush")
	cmd.Env = e.environ()
	cmd.Dir = e.home
	cmd.Stderr = tty
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	tty.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal was not closed")
	}
	return strings.ReplaceAll(out.String(), "\r\n", "\n")
}

// TestFlushInATerminal: a person who runs homepost flush reads one line
// per message saying what happened to it, not the agent's key=value
// log lines; elsewhere (a pipe, the journal) the log lines stay. With
// deliver_without_agent = false (newEnv's) and no agent, nothing
// retries what stays deferred: flush promises no retry and says what
// the user must do.
func TestFlushInATerminal(t *testing.T) {
	e := newEnv(t)
	user := me(t)
	for _, to := range []string{user, "bob@example.org"} {
		if _, stderr, code := e.run("Subject: to "+to+"\n\nhello\n", "sendmail", to); code != 0 {
			t.Fatalf("sendmail %s: exit %d: %s", to, code, stderr)
		}
	}
	out := e.flushIn(t)
	t.Logf("terminal:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if strings.Contains(out, "level=") || strings.Contains(out, "time=") || len(lines) != 3 {
		t.Fatalf("flush in a terminal printed:\n%s", out)
	}
	if !strings.Contains(out, " delivered to your mailbox\n") {
		t.Errorf("no line for the local message:\n%s", out)
	}
	if !strings.Contains(out, "bob@example.org deferred: no smarthost configured") || strings.Contains(out, "will retry") {
		t.Errorf("no line for the deferred message, or one that promises a retry:\n%s", out)
	}
	if !strings.Contains(out, "homepost: flush: nothing retries the 1 deferred recipient(s): no agent runs, and deliver_without_agent = false starts no background delivery; start homepost agent, or run homepost flush again\n") {
		t.Errorf("flush does not say that nothing retries:\n%s", out)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "homepost: flush: ") {
			t.Errorf("line %q", l)
		}
	}

	// Not a terminal: the log lines.
	_, stderr, code := e.run("", "flush")
	if code != 0 || !strings.Contains(stderr, "level=INFO msg=delivery") || !strings.Contains(stderr, "to=bob@example.org") {
		t.Errorf("flush into a pipe: exit %d:\n%s", code, stderr)
	}

	// Nothing waiting: it says so.
	e2 := newEnv(t)
	if out := e2.flushIn(t); strings.TrimSpace(out) != "homepost: flush: nothing to deliver" {
		t.Errorf("flush of an empty queue printed %q", out)
	}
}

// TestCheckConfigMistakes: the configuration mistakes a newcomer makes
// are each shown by homepost check with file:line, all at once; a relay
// that would send mail in clear is said without --relay.
func TestCheckConfigMistakes(t *testing.T) {
	e := saneEnv(t)
	p := e.configPath()
	e.writeConfig("system_aliases = \"\"\nStore = \"~/Mail/\"\n")
	out, code := e.check()
	if code != 78 || !hasLine(out, "FAIL config: "+p+":2: Store: unknown key: keys are case-sensitive; write store") {
		t.Errorf("Store: exit %d:\n%s", code, out)
	}

	e.writeConfig("system_aliases = \"\"\nstroe = \"~/Mail/\"\nother_users = \"everyone\"\n[relay]\nurl = \"smtps//smtp.example.com\"\n")
	out, code = e.check()
	for _, want := range []string{
		"FAIL config: " + p + ":2: stroe: unknown key",
		"FAIL config: " + p + ":3: other_users: ",
		"FAIL config: " + p + ":5: relay.url: \"smtps//smtp.example.com\" is not a relay URL",
	} {
		if code != 78 || !hasLine(out, want) {
			t.Errorf("exit %d; no line %q:\n%s", code, want, out)
		}
	}

	e.writeConfig("system_aliases = \"\"\n[relay]\nurl = \"smtp://mail.example.com:25\"\n")
	out, _ = e.check()
	if !hasLine(out, "warn relay: smtp://mail.example.com:25 is plain SMTP to mail.example.com, another host: mail would cross the network in clear") {
		t.Errorf("plain smtp to another host:\n%s", out)
	}
	e.writeConfig("system_aliases = \"\"\n[relay]\nurl = \"smtp://mail.example.com:25\"\nusername = \"me\"\npassword_command = \"echo x\"\n")
	out, _ = e.check()
	if !hasLine(out, "FAIL config: "+p+":4: relay.username: authentication over plain smtp:// to mail.example.com would send the password in clear") {
		t.Errorf("plain smtp with a password:\n%s", out)
	}
	e.writeConfig("system_aliases = \"\"\n[relay]\nurl = \"smtp://localhost:2525\"\n")
	out, _ = e.check()
	if !hasLine(out, "ok   relay: smtp://localhost:2525") {
		t.Errorf("plain smtp to this machine:\n%s", out)
	}
}
