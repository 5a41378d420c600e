package tools

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
			script += "echo '@daily homepost cron -- true'\n"
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
