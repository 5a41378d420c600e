package doctor_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
)

// endBackground ends, when the test is done, the background delivery
// that deferred mail keeps (before testenv waits for it to end).
func endBackground(t *testing.T, e *testenv.Env) {
	t.Cleanup(func() {
		b, _ := os.ReadFile(e.Path(".local", "state", "homepost", "agent.lock"))
		if f := strings.Fields(string(b)); len(f) > 0 {
			if pid, err := strconv.Atoi(f[0]); err == nil && pid > 0 {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
}

// smtpLines are check's smtp lines.
func smtpLines(out string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " smtp: ") {
			ls = append(ls, l)
		}
	}
	return ls
}

// A user who never set up [smtp] gets no warning about the socket that
// nothing listens on while a background delivery runs: it concerns only
// those who use the listener.
func TestCheckSocketUnconfigured(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("SKIP: systemd runs this machine")
	}
	e := testenv.New(t, "")
	endBackground(t, e)
	e.DeliverWithoutAgent()
	e.MustSend("To: someone@example.org\nSubject: waits\n\nx\n", "-t") // no relay: deferred, the delivery stays
	e.WaitFor(func() bool {
		out, _, _ := e.Run(nil, "homepost", "check")
		return strings.Contains(out, "background delivery")
	}, "the background delivery")
	out, _, _ := e.Run(nil, "homepost", "check")
	for _, l := range smtpLines(out) {
		if !strings.HasPrefix(l, "ok ") {
			t.Errorf("with no [smtp] set, check's smtp line is not ok: %q\n%s", l, out)
		}
	}
	if line, _, _ := e.Run(nil, "homepost", "check", "--crontab"); !strings.Contains(line, " flush >>") {
		t.Errorf("check --crontab with no listener named: %q", line)
	}
}

// With [smtp] listen set and no systemd, only a running agent listens:
// check --crontab prints an @reboot line that starts one, and check's
// warning points at it.
func TestCheckCrontabStartsListener(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("SKIP: systemd runs this machine")
	}
	e, addr := listenEnv(t, "")
	line, _, code := e.Run(nil, "homepost", "check", "--crontab")
	log := e.Path(".local", "state", "homepost", "agent.log")
	if code != 0 || !strings.HasPrefix(line, "@reboot /") || !strings.HasSuffix(line, "/homepost agent >>"+log+" 2>&1\n") {
		t.Errorf("check --crontab with [smtp] listen = [%q]: exit %d: %q", addr, code, line)
	}
	out, _, _ := e.Run(nil, "homepost", "check")
	if l := smtpLine(out, addr); !strings.HasPrefix(l, "warn") || !strings.Contains(l, "homepost check --crontab") {
		t.Errorf("check's line for %s does not point at check --crontab:\n%s", addr, out)
	}

	// A background delivery runs (a sendmail before the agent started):
	// the agent takes over from it.
	endBackground(t, e)
	e.DeliverWithoutAgent()
	e.MustSend("To: someone@example.org\nSubject: waits\n\nx\n", "-t") // no relay: deferred, the delivery stays
	e.WaitFor(func() bool {
		out, _, _ := e.Run(nil, "homepost", "check")
		return strings.Contains(smtpLine(out, addr), "background delivery")
	}, "the background delivery")

	// What cron runs: the line, by sh, in cron's environment. It stays
	// (cron lets an @reboot job run for ever) and listens.
	cmd := exec.Command("/bin/sh", "-c", strings.TrimPrefix(strings.TrimSpace(line), "@reboot "))
	cmd.Env = []string{"HOME=" + e.Home, "PATH=/usr/bin:/bin", "SHELL=/bin/sh", "LOGNAME=" + testenv.Login(t)}
	for _, kv := range e.Vars {
		if strings.HasPrefix(kv, "XDG_CONFIG_HOME=") || strings.HasPrefix(kv, "XDG_STATE_HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Dir = "/"
	var sherr testenv.LockedBuffer
	cmd.Stderr = &sherr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	var last string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		last, _, _ = e.Run(nil, "homepost", "check")
		if strings.HasPrefix(smtpLine(last, addr), "ok   smtp: tcp:"+addr+" answers") {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log)
			t.Fatalf("the crontab line started no listener on %s: %s\nits log:\n%s\ncheck:\n%s", addr, sherr.String(), b, last)
		}
	}
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "agent started") {
		t.Errorf("the agent's log %s does not say it started:\n%s", log, b)
	}
}

// An agent started without XDG_RUNTIME_DIR listens on the state
// directory's socket; check, run from a session that has a runtime
// directory, looks there: it says where the agent listens and why,
// rather than that the socket does not answer.
func TestCheckSocketElsewhere(t *testing.T) {
	e := testenv.New(t, "")
	sock := e.Path(".local", "state", "homepost", "smtp")
	if len(sock) > 107 {
		t.Skip("SKIP: the temporary directory's path is too long for a Unix socket")
	}
	e.StartAgent() // no XDG_RUNTIME_DIR, and no /run/user/UID here
	rt, err := os.MkdirTemp("", "hp-rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rt) })
	if _, err := os.Stat(filepath.Join("/run/user", "0")); err == nil && os.Getuid() == 0 {
		t.Skip("SKIP: /run/user/0 exists: the agent listens there")
	}
	e.Vars = append(e.Vars, "XDG_RUNTIME_DIR="+rt)
	out, _, _ := e.Run(nil, "homepost", "check")
	want := filepath.Join(rt, "homepost", "smtp")
	var l string
	for _, s := range smtpLines(out) {
		if strings.Contains(s, want) {
			l = s
		}
	}
	if !strings.HasPrefix(l, "warn") || !strings.Contains(l, "listens on unix:"+sock) || !strings.Contains(l, "XDG_RUNTIME_DIR") || strings.Contains(l, "see its log") {
		t.Errorf("check does not say that the agent listens on %s, and why:\n%s", sock, out)
	}
}
