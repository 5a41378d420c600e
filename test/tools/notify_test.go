package tools

import (
	"io"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func notifyEnv(t *testing.T, path string) *env {
	e := newEnv(t)
	e.writeConfig("deliver_without_agent = false\nsystem_aliases = \"\"\nhostname = \"notifyhost\"\n")
	e.extra = []string{"PATH=" + path}
	return e
}

func TestNotifyWithoutSystemd(t *testing.T) {
	// A PATH with neither systemctl nor journalctl.
	e := notifyEnv(t, t.TempDir())
	e.extra = append(e.extra, "MONITOR_SERVICE_RESULT=exit-code", "MONITOR_EXIT_STATUS=3")
	_, errOut, code := e.run("", "notify", "backup.service")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	m := oneMail(t, e)
	if s := m.subject(); s != "[notifyhost] unit backup.service failed" {
		t.Errorf("subject %q", s)
	}
	if got := m.rcpts(); !slices.Equal(got, []string{me(t)}) {
		t.Errorf("recipients %v, want the user", got)
	}
	for _, s := range []string{
		"backup.service on notifyhost failed (result: exit-code)",
		"MONITOR_EXIT_STATUS=3",
		"systemctl is not available",
		"journalctl is not available",
	} {
		if !strings.Contains(m.body, s) {
			t.Errorf("body lacks %q:\n%s", s, m.body)
		}
	}
}

// fakeTools writes systemctl and journalctl scripts that log their
// arguments and print canned output.
func fakeTools(t *testing.T, journal string) (dir, log string) {
	dir = t.TempDir()
	log = filepath.Join(dir, "calls")
	write := func(name, script string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("systemctl", "#!/bin/sh\necho \"systemctl $*\" >> "+log+"\n"+
		"echo '× backup.service - Nightly backup'\necho '     Active: failed (Result: exit-code)'\nexit 3\n")
	write("journalctl", "#!/bin/sh\necho \"journalctl $*\" >> "+log+"\nprintf '"+journal+"'\n")
	return dir, log
}

func TestNotifyWithFakeSystemd(t *testing.T) {
	dir, log := fakeTools(t, `Nov 26 03:00:01 host backup[42]: disk full\n`)
	e := notifyEnv(t, dir)
	if _, errOut, code := e.run("", "notify", "backup.service"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	m := oneMail(t, e)
	for _, s := range []string{"Active: failed (Result: exit-code)", "backup[42]: disk full"} {
		if !strings.Contains(m.body, s) {
			t.Errorf("body lacks %q:\n%s", s, m.body)
		}
	}
	if strings.Contains(m.body, "not available") {
		t.Errorf("body says a tool is missing:\n%s", m.body)
	}
	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"systemctl --user status --no-pager --full --lines=0 -- backup.service",
		"journalctl --user -u backup.service -n 50 --no-pager",
	} {
		if !strings.Contains(string(calls), want+"\n") {
			t.Errorf("no call %q in:\n%s", want, calls)
		}
	}
}

func TestNotifyBinaryJournal(t *testing.T) {
	dir, _ := fakeTools(t, `caf\351 \000 end\n`)
	e := notifyEnv(t, dir)
	e.run("", "notify", "--", "x@y.service")
	m := oneMail(t, e)
	if cte := m.msg.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding %q for non-UTF-8 output", cte)
	}
	dec, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(m.body)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dec), "caf\xe9 \x00 end\n") {
		t.Errorf("journal bytes not kept:\n%q", dec)
	}
}

func TestNotifyBadUnit(t *testing.T) {
	e := notifyEnv(t, t.TempDir())
	for _, args := range [][]string{{}, {"a/b"}, {"--", "-x"}, {"a", "b"}, {"$(reboot)"}, {"--bogus", "a"}} {
		if _, _, code := e.run("", append([]string{"notify"}, args...)...); code != 64 {
			t.Errorf("notify %q: exit %d, want 64", args, code)
		}
	}
	if q := e.queue(); len(q) != 0 {
		t.Errorf("%d messages queued for bad units", len(q))
	}
}
