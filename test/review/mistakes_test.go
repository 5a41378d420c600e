package review

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/test/testenv"
)

// The everyday mistakes users make must not cost mail, nor hide it.

// storeFiles reads every message in ~/Maildir/new.
func storeFiles(t *testing.T, e *testenv.Env) []string {
	t.Helper()
	var out []string
	for _, n := range testenv.Files(e.Path("Maildir", "new")) {
		b, err := os.ReadFile(e.Path("Maildir", "new", n))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// A local name that is neither a login nor an alias (a typo in MAILTO)
// bounces with 5.1.1 "user unknown": a DSN in the store, not the message
// filed as if it were the user's; resolve says "no such user".
func TestUnknownLocalNameBounces(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	const name = "nosuchuser-homepost-typo"
	e.MustSend("Subject: typo\n\nbody\n", name)
	e.Once()
	got := storeFiles(t, e)
	if len(got) != 1 || !strings.Contains(got[0], "multipart/report") || !strings.Contains(got[0], "5.1.1") ||
		!strings.Contains(got[0], "user unknown") {
		t.Fatalf("store holds %d message(s), want one DSN with 5.1.1 user unknown:\n%s", len(got), strings.Join(got, "\n----\n"))
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
	out, _, code := e.Run(nil, "homepost", "resolve", name)
	if code != 67 || !strings.Contains(out, "no such user") || strings.Contains(out, "another user") {
		t.Errorf("resolve %s: exit %d\n%s", name, code, out)
	}
	// A real login that is not the user's own still follows other_users.
	if out, _, code := e.Run(nil, "homepost", "resolve", "daemon"); code != 0 || !strings.Contains(out, "another user") {
		t.Errorf("resolve daemon: exit %d\n%s", code, out)
	}
}

// A |command that is a shell built-in or keyword runs as Postfix's
// local(8) runs it, through /bin/sh: "|exit 75" defers the mail (it is
// not "exit not found", bounced), and "test -d ~/x && cat >>~/x/log"
// writes the log.
func TestCommandBuiltins(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	os.Mkdir(e.Path("x"), 0o700)
	os.WriteFile(e.Path(".config", "homepost", "aliases"),
		[]byte("later: \"|exit 75\"\nlog: \"|test -d ~/x && cat >>~/x/log\"\n"), 0o600)
	e.MustSend("Subject: later\n\nb\n", "later")
	e.MustSend("Subject: logged\n\nb\n", "log")
	e.Once()
	if got := storeFiles(t, e); len(got) != 0 {
		t.Errorf("the store holds %d message(s) (a bounce?):\n%s", len(got), strings.Join(got, "\n----\n"))
	}
	q, _, _ := e.Run(nil, "mailq")
	if !strings.Contains(q, "temporary failure") || !strings.Contains(q, "later") || strings.Contains(q, "log\n") {
		t.Errorf("mailq:\n%s", q)
	}
	if b, err := os.ReadFile(filepath.Join(e.Path("x"), "log")); err != nil || !strings.Contains(string(b), "Subject: logged") {
		t.Errorf("~/x/log: %v %q", err, b)
	}
}

// setConfig replaces the test's config file.
func setConfig(t *testing.T, e *testenv.Env, text string, mode os.FileMode) string {
	t.Helper()
	p := e.Path(".config", "homepost", "config.toml")
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
	return p
}

const baseConfig = "deliver_without_agent = false\nhostname = \"testhost.example\"\nsystem_aliases = \"\"\n"

// An error in config.toml (an unknown key, as "[relay] timeout") must not
// make sendmail, mail, cron or mailq refuse: they queue, exit 0 and warn
// with file:line; the agent holds the queue and says so, as do mailq and
// check; once the file is fixed, everything queued is delivered. A
// password in a file others can read is the same case.
func TestConfigErrorStillQueues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text, where string
		mode              os.FileMode
	}{
		{"unknown key", baseConfig + "[relay]\nurl = \"smtp://127.0.0.1:1\"\ntimeout = \"5s\"\n", ":6: relay.timeout: unknown key", 0o600},
		{"password readable by others", baseConfig + "[relay]\nurl = \"smtp://127.0.0.1:1\"\npassword = \"secret\"\n", ":6: relay.password", 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := testenv.New(t, "")
			file := setConfig(t, e, tc.text, tc.mode)
			where := file + tc.where
			_, stderr, code := e.Run([]byte("Subject: one\n\nb\n"), "sendmail", "root")
			if code != 0 || !strings.Contains(stderr, where) {
				t.Fatalf("sendmail: exit %d, want 0 and a warning naming %s:\n%s", code, where, stderr)
			}
			if _, stderr, code := e.Run([]byte("body\n"), "mail", "-s", "two", "root"); code != 0 || !strings.Contains(stderr, where) {
				t.Errorf("mail: exit %d:\n%s", code, stderr)
			}
			if _, stderr, code := e.Run(nil, "homepost", "cron", "--", "echo", "three"); code != 0 || !strings.Contains(stderr, where) {
				t.Errorf("homepost cron: exit %d:\n%s", code, stderr)
			}
			if n := len(testenv.Files(e.Outbox("new"))); n != 3 {
				t.Fatalf("outbox/new holds %d messages, want 3", n)
			}
			q, stderr, code := e.Run(nil, "mailq")
			if code != 0 || !strings.Contains(q, "in 3 Requests") || !strings.Contains(stderr, where) || !strings.Contains(stderr, "not delivered until the configuration is fixed") {
				t.Errorf("mailq: exit %d\n%s\n%s", code, q, stderr)
			}
			// The one-shot agent holds the queue and says why.
			_, stderr, code = e.Run(nil, "homepost", "agent", "--once")
			if code != 78 || !strings.Contains(stderr, where) || !strings.Contains(stderr, "held") {
				t.Errorf("agent --once: exit %d:\n%s", code, stderr)
			}
			if got := storeFiles(t, e); len(got) != 0 {
				t.Errorf("delivered with a broken configuration: %d", len(got))
			}
			out, _, code := e.Run(nil, "homepost", "check")
			if code != 78 || !strings.Contains(out, "FAIL config: "+where) || !strings.Contains(out, "held") {
				t.Errorf("check: exit %d\n%s", code, out)
			}
			// Fixed: everything is delivered.
			setConfig(t, e, baseConfig, 0o600)
			e.Once()
			if got := storeFiles(t, e); len(got) != 3 {
				t.Errorf("after the fix the store holds %d messages, want 3", len(got))
			}
		})
	}
}

// The daemon started with a broken file holds the queue, says so in its
// log, in mailq and in check, and delivers as soon as the file is fixed.
// A daemon whose file breaks later keeps the configuration it read
// before.
func TestAgentHoldsQueueOnConfigError(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	file := setConfig(t, e, baseConfig+"bogus = 1\n", 0o600)
	c := e.Cmd(nil, "homepost", "agent")
	var log testenv.LockedBuffer
	c.Stderr = &log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	})
	e.WaitFor(func() bool { return strings.Contains(log.String(), file+":4: bogus: unknown key") }, "the agent to say why it holds the queue")
	e.MustSend("Subject: held\n\nb\n", "root")
	time.Sleep(500 * time.Millisecond)
	if got := storeFiles(t, e); len(got) != 0 {
		t.Fatalf("delivered with a broken configuration")
	}
	if _, stderr, _ := e.Run(nil, "mailq"); !strings.Contains(stderr, file+":4") || !strings.Contains(stderr, "not delivered") {
		t.Errorf("mailq:\n%s", stderr)
	}
	if out, _, _ := e.Run(nil, "homepost", "check"); !strings.Contains(out, "FAIL config: "+file+":4") || !strings.Contains(out, "holding the queue") {
		t.Errorf("check:\n%s", out)
	}
	setConfig(t, e, baseConfig, 0o600)
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 1 }, "delivery once the file is fixed")

	// Broken again: the running agent keeps what it read, and says so.
	setConfig(t, e, baseConfig+"[relay]\ntimeout = 1\n", 0o600)
	e.WaitFor(func() bool { return strings.Contains(log.String(), "keeping the configuration read before") }, "the reload")
	// sendmail says so too, rather than "delivered once the file is fixed".
	if _, stderr, code := e.Run([]byte("Subject: kept\n\nb\n"), "sendmail", "root"); code != 0 ||
		!strings.Contains(stderr, "delivers with the configuration it read before") || strings.Contains(stderr, "once the configuration is fixed") {
		t.Errorf("sendmail: exit %d:\n%s", code, stderr)
	}
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 2 }, "delivery with the configuration read before")
	if _, stderr, _ := e.Run(nil, "mailq"); !strings.Contains(stderr, "keeps the configuration it read before") {
		t.Errorf("mailq:\n%s", stderr)
	}
}

// sendmail and mailq run with HOMEPOST_CONFIG naming a broken file
// other than the one the running agent read: the agent is not blamed
// for keeping an older version of that file (it never read it); they
// name the file it reads, as check does.
func TestQueueWarningsNameTheAgentsFile(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	e.StartAgent()
	agentFile := e.Path(".config", "homepost", "config.toml")
	other := e.Path("other.toml")
	if err := os.WriteFile(other, []byte("no_such_key = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(stdin []byte, name string, args ...string) (string, int) {
		t.Helper()
		c := e.Cmd(stdin, name, args...)
		c.Env = append(c.Env[:len(c.Env):len(c.Env)], "HOMEPOST_CONFIG="+other)
		var errb strings.Builder
		c.Stderr = &errb
		err := c.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return errb.String(), code
	}
	for _, c := range []struct {
		name  string
		stdin []byte
		args  []string
	}{
		{"sendmail", []byte("Subject: other file\n\nb\n"), []string{"root"}},
		{"mailq", nil, nil},
	} {
		stderr, code := run(c.stdin, c.name, c.args...)
		if c.name == "sendmail" && code != 0 {
			t.Errorf("sendmail: exit %d:\n%s", code, stderr)
		}
		if strings.Contains(stderr, "read before") {
			t.Errorf("%s blames the agent, which read %s:\n%s", c.name, agentFile, stderr)
		}
		if !strings.Contains(stderr, "another configuration file, "+agentFile) {
			t.Errorf("%s does not name the agent's file %s:\n%s", c.name, agentFile, stderr)
		}
	}
	// The agent delivers what sendmail queued, as its own file says.
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 1 }, "delivery by the agent")
}

// The outbox of a broken file is the one the file names: the agent,
// once the file is fixed, finds there what sendmail queued. Where the
// file's own outbox line cannot be read, sendmail queues in the default
// outbox, says so, and starts a background delivery that holds while
// the file is broken; once the file is fixed, that delivery follows the
// outbox the file names, takes the message along and delivers it, once.
// (With no delivery running, mailq and check say that the message
// waits in the former outbox: TestOutboxMovedWithMailInIt.)
func TestConfigErrorKeepsTheFilesOutbox(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	good := baseConfig + "outbox = \"~/queue\"\n"
	file := setConfig(t, e, good+"[relay]\ntimeout = 1\n", 0o600)
	e.MustSend("Subject: q\n\nb\n", "root")
	if n := len(testenv.Files(e.Path("queue", "new"))); n != 1 {
		t.Fatalf("~/queue/new holds %d messages, want 1 (default outbox: %v)", n, testenv.Files(e.Outbox("new")))
	}
	setConfig(t, e, good, 0o600)
	e.Once()
	if n := len(storeFiles(t, e)); n != 1 {
		t.Errorf("store holds %d, want 1", n)
	}
	setConfig(t, e, baseConfig+"outbox = \"~/queue\n", 0o600)
	_, stderr, code := e.Run([]byte("Subject: q\n\nb\n"), "sendmail", "root")
	if code != 0 || !strings.Contains(stderr, file+":4: outbox") || !strings.Contains(stderr, "queued in the default outbox, "+filepath.Clean(e.Outbox(""))) {
		t.Errorf("sendmail with an unreadable outbox line: exit %d\n%s", code, stderr)
	}
	if n := len(testenv.Files(e.Outbox("new"))); n != 1 {
		t.Fatalf("the default outbox holds %d messages, want 1", n)
	}
	agentLog := e.Path(".local", "state", "homepost", "agent.log")
	e.WaitFor(func() bool {
		b, _ := os.ReadFile(agentLog)
		return strings.Contains(string(b), "delivery is held until it is fixed")
	}, "the background delivery to hold")
	setConfig(t, e, good, 0o600)
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 2 }, "the held delivery to deliver the message once the file is fixed")
	e.WaitFor(func() bool { return e.LockHolder() == 0 }, "the background delivery to end")
	if n := len(storeFiles(t, e)); n != 2 {
		t.Errorf("store holds %d, want 2", n)
	}
	for _, d := range []string{e.Outbox("new"), e.Outbox("cur"), e.Path("queue", "new"), e.Path("queue", "cur")} {
		if n := testenv.Files(d); len(n) != 0 {
			t.Errorf("%s still holds %v", d, n)
		}
	}
	if out, stderr, _ := e.Run(nil, "mailq"); out != "Mail queue is empty\n" || strings.Contains(stderr, "wait in") {
		t.Errorf("mailq:\n%s%s", out, stderr)
	}
	if b, _ := os.ReadFile(agentLog); !strings.Contains(string(b), "moved the mail of the former outbox into the configured one") {
		t.Errorf("the log does not say the message was moved along:\n%s", b)
	}
}

// noUserSystemd reports whether the machine has no systemd user instance
// for this user, as the test environment (no XDG_RUNTIME_DIR) sees it.
func noUserSystemd() bool {
	_, err := os.Stat(filepath.Join("/run/user", strconv.Itoa(os.Getuid()), "systemd", "private"))
	return err != nil
}

// Where no systemd runs the agent, mail that waits must not wait for the
// next message: a command that finds it and no agent (here mailq)
// starts the background delivery; the advice names what works on this
// machine (no systemctl --user without a user instance, but a crontab
// line that check --crontab prints).
func TestWaitingMailStartsDelivery(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	e.MustSend("Subject: waits\n\nb\n", "root") // deliver_without_agent = false: nothing starts
	_, stderr, _ := e.Run(nil, "mailq")
	if !strings.Contains(stderr, "no agent is running") {
		t.Errorf("mailq does not say that no agent runs:\n%s", stderr)
	}
	out, _, _ := e.Run(nil, "homepost", "check")
	if noUserSystemd() {
		// deliver_without_agent = false: a flush at boot would try
		// once, and nothing would retry; only an agent keeps mail
		// moving.
		if strings.Contains(stderr, "systemctl --user") || !strings.Contains(stderr, "@reboot homepost agent") || !strings.Contains(stderr, "deliver_without_agent = false") {
			t.Errorf("mailq's advice does not work here:\n%s", stderr)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "agent: ") && strings.Contains(l, "systemctl --user") {
				t.Errorf("check's advice does not work here: %s", l)
			}
		}
	}
	line, _, code := e.Run(nil, "homepost", "check", "--crontab")
	if code != 0 || !strings.HasPrefix(line, "@reboot /") || !strings.Contains(line, "homepost agent >>") ||
		!strings.Contains(line, "agent.log 2>&1") || strings.Count(line, "\n") != 1 {
		t.Errorf("check --crontab: exit %d: %q", code, line)
	}
	// With background deliveries on, mailq starts one for the waiting mail.
	setConfig(t, e, strings.Replace(baseConfig, "= false", "= true", 1), 0o600)
	_, stderr, _ = e.Run(nil, "mailq")
	if !strings.Contains(stderr, "started a background delivery") {
		t.Errorf("mailq:\n%s", stderr)
	}
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 1 }, "the background delivery")
}

// homepost flush where no agent runs does not try once and leave: what
// stays deferred is retried by a background delivery that stays until
// the queue is empty; a second flush reaches it and waits for it.
func TestFlushKeepsDeliveringWithoutAgent(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, "")
	relay := fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr)
	setConfig(t, e, baseConfig+relay, 0o600)
	h.Set("x@remote.example", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"})
	e.MustSend("Subject: s\n\nb\n", "x@remote.example")
	e.Once()
	setConfig(t, e, strings.Replace(baseConfig, "= false", "= true", 1)+relay, 0o600)
	if _, stderr, code := e.Run(nil, "homepost", "flush"); code != 0 {
		t.Fatalf("flush: exit %d\n%s", code, stderr)
	}
	holder := e.LockHolder
	e.WaitFor(func() bool { return holder() != 0 }, "a background delivery to stay for the deferred message")
	t.Cleanup(func() {
		if pid := holder(); pid != 0 {
			syscall.Kill(pid, syscall.SIGTERM)
		}
	})
	h.Set("x@remote.example", nil)
	_, stderr, code := e.Run(nil, "homepost", "flush")
	if code != 0 {
		t.Fatalf("second flush: exit %d\n%s", code, stderr)
	}
	if n := h.Count("x@remote.example"); n != 1 {
		log, _ := os.ReadFile(e.Path(".local", "state", "homepost", "agent.log"))
		t.Errorf("flush returned before the running delivery sent the message (%d copies)\nflush: %s\nagent.log:\n%s", n, stderr, log)
	}
	e.WaitFor(func() bool { return holder() == 0 }, "the background delivery to end on an empty queue")
}

// "send; homepost agent --once; read" works while an agent runs: --once
// has the running agent deliver what is due and waits until it has.
func TestOnceWaitsForRunningAgent(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte("slow: \"|sleep 1; cat >>$HOME/slow.log\"\n"), 0o600)
	e.StartAgent()
	e.MustSend("Subject: slow\n\nb\n", "slow")
	e.Once()
	if b, err := os.ReadFile(e.Path("slow.log")); err != nil || !strings.Contains(string(b), "Subject: slow") {
		t.Errorf("agent --once returned before the running agent delivered: %v", err)
	}
	e.MustSend("Subject: second\n\nb\n", "root")
	e.Once()
	if n := len(storeFiles(t, e)); n != 1 {
		t.Errorf("store holds %d messages right after agent --once, want 1", n)
	}
}

// A configuration that does not even say where the outbox is (a line
// that does not parse as TOML where the outbox is set) has homepost
// cron queue the report in the default outbox. Where even that cannot
// be (the default outbox would be in the store), the job still runs: a
// crontab with MAILTO="" would otherwise silently stop running every
// job. The output, which cannot be queued, goes to standard error with
// the reason; the exit status is the job's, or 78 when it succeeded.
func TestCronRunsWithoutOutbox(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	setConfig(t, e, baseConfig+"outbox = ~/x\n", 0o600)
	_, stderr, code := e.Run(nil, "homepost", "cron", "--", "sh", "-c", "echo the job spoke; exit 3")
	if code != 3 || len(testenv.Files(e.Outbox("new"))) != 1 || !strings.Contains(stderr, "queued in the default outbox") {
		t.Errorf("unknown outbox: exit %d, %d report(s) queued:\n%s", code, len(testenv.Files(e.Outbox("new"))), stderr)
	}
	// The default outbox in the store: nothing can be queued.
	for i, v := range e.Vars {
		if strings.HasPrefix(v, "XDG_STATE_HOME=") {
			e.Vars[i] = "XDG_STATE_HOME=" + e.Path("Maildir", "state")
		}
	}
	mark := e.Path("ran")
	_, stderr, code = e.Run(nil, "homepost", "cron", "--", "sh", "-c", "touch "+mark+"; echo the job spoke; exit 3")
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("the job did not run (exit %d):\n%s", code, stderr)
	}
	if code != 3 || !strings.Contains(stderr, "the job spoke") || !strings.Contains(stderr, "config.toml:4") || !strings.Contains(stderr, "not queued") {
		t.Errorf("exit %d, want the job's 3, its output, the error's file:line and \"not queued\" on stderr:\n%s", code, stderr)
	}
	os.Remove(mark)
	_, stderr, code = e.Run(nil, "homepost", "cron", "--", "touch", mark)
	if _, err := os.Stat(mark); err != nil || code != 78 {
		t.Errorf("a silent job: ran %v, exit %d (want 78: nothing could be queued had it spoken):\n%s", err == nil, code, stderr)
	}
}

// Mail queued before outbox (or state_dir) is changed stays in the old
// outbox, which nothing delivers any more: mailq and check say where it
// waits and what to do.
func TestOutboxMovedWithMailInIt(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	e.MustSend("Subject: left behind\n\nb\n", "root")
	old := e.Outbox("")
	setConfig(t, e, baseConfig+"outbox = \"~/newbox\"\n", 0o600)
	if _, stderr, _ := e.Run(nil, "mailq"); !strings.Contains(stderr, "1 message(s) wait in "+filepath.Clean(old)) {
		t.Errorf("mailq says nothing of the old outbox:\n%s", stderr)
	}
	out, _, code := e.Run(nil, "homepost", "check")
	if code == 0 || !strings.Contains(out, "FAIL outbox: 1 message(s) wait in "+filepath.Clean(old)) {
		t.Errorf("check: exit %d\n%s", code, out)
	}
}

// A file refused for a value that would break mail is not used for that
// value while the shims queue anyway: neither sendmail program (the
// small one hands such a file to homepost) stamps a bad host name on
// the message or queues into the store.
func TestRefusedValuesNotUsedToQueue(t *testing.T) {
	t.Parallel()
	for _, prog := range testenv.Sendmails {
		t.Run(prog, func(t *testing.T) {
			t.Parallel()
			e := testenv.New(t, "")
			file := setConfig(t, e, "deliver_without_agent = false\nsystem_aliases = \"\"\nhostname = \"a:b\"\n", 0o600)
			_, stderr, code := e.Run([]byte("Subject: h\n\nb\n"), prog, "root")
			if code != 0 || !strings.Contains(stderr, file+":3: hostname") {
				t.Fatalf("bad hostname: exit %d:\n%s", code, stderr)
			}
			for _, f := range testenv.Files(e.Outbox("new")) {
				if b, _ := os.ReadFile(f); strings.Contains(string(b), "@a:b") || strings.Contains(string(b), "@a%3Ab") {
					t.Errorf("queued with the refused host name:\n%s", b)
				}
			}
			// An outbox in the store is no outbox: the message is
			// queued in the default one.
			before := len(testenv.Files(e.Outbox("new")))
			setConfig(t, e, baseConfig+"outbox = \"~/Maildir\"\n", 0o600)
			_, stderr, code = e.Run([]byte("Subject: o\n\nb\n"), prog, "root")
			if code != 0 || !strings.Contains(stderr, file+":4: outbox") || len(testenv.Files(e.Outbox("new"))) != before+1 {
				t.Errorf("outbox in the store: exit %d, want 0 and the message in the default outbox:\n%s", code, stderr)
			}
			if n := testenv.Files(e.Path("Maildir", "new")); len(n) != 0 {
				t.Errorf("queue files in the store: %v", n)
			}
		})
	}
}
