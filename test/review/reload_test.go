package review

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/agentlock"
	"homepost/test/testenv"
)

// How the agent takes a changed config.toml up: not half written, with
// the listener it names, in the background delivery too, and with the
// mail its mistake deferred retried at once.

// startAgentLog runs the daemon until the test ends and returns its log.
func startAgentLog(t *testing.T, e *testenv.Env) *testenv.LockedBuffer {
	t.Helper()
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
	e.WaitFor(func() bool { return strings.Contains(log.String(), "agent started") }, "agent start")
	return &log
}

// writeSlowly rewrites path in place as a shell's "> f" then ">> f", or
// an editor that truncates and writes, does: the parts one after the
// other, with pause between them, during which during runs.
func writeSlowly(t *testing.T, path string, pause time.Duration, during func(), parts ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, p := range parts {
		if i > 0 {
			start := time.Now()
			if i == 1 && during != nil {
				during()
			}
			time.Sleep(pause - time.Since(start))
		}
		if _, err := f.WriteString(p); err != nil {
			t.Fatal(err)
		}
	}
}

// A config.toml written in more than one write is read once it has
// settled, not half written: mail sent meanwhile goes where the file
// says before and after the edit (the mbox, the smarthost), not to the
// defaults that a half-written or empty file gives (~/Maildir, no
// smarthost).
func TestConfigWrittenInTwoWrites(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		pause time.Duration
		first string // the first write; the rest follows after pause
	}{
		{"two writes 300ms apart", 300 * time.Millisecond, baseConfig},
		{"truncated, written 2s later", 2 * time.Second, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := testenv.StartSmarthost(t)
			e := testenv.New(t, "")
			rest := "store = \"mbox:~/mbox\"\n[relay]\nurl = \"smtp://" + h.Addr + "\"\n"
			file := setConfig(t, e, baseConfig+rest, 0o600)
			log := startAgentLog(t, e)
			send := func() {
				// Late enough for the half-written file to be read by
				// an agent that does not wait for it to settle.
				time.Sleep(150 * time.Millisecond)
				e.MustSend("Subject: during the edit\n\nb\n", testenv.Login(t), "far@remote.example")
			}
			writeSlowly(t, file, tc.pause, send, tc.first, strings.TrimPrefix(baseConfig+rest, tc.first))
			e.WaitFor(func() bool {
				b, _ := os.ReadFile(e.Path("mbox"))
				return strings.Contains(string(b), "Subject: during the edit") && h.Count("far@remote.example") == 1
			}, "delivery to the mbox and the smarthost")
			if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 0 {
				t.Errorf("%d messages in ~/Maildir, which the file never named", n)
			}
			if strings.Contains(log.String(), "no smarthost configured") {
				t.Errorf("deferred for no smarthost")
			}
			if n := strings.Count(log.String(), "msg=reloaded"); n != 1 {
				t.Errorf("reloaded %d times for one edit", n)
			}
		})
	}
}

// freePort returns a loopback address that nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// answers reports whether an SMTP server greets on addr.
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 4)
	n, _ := c.Read(b)
	return n == 4 && string(b[:3]) == "220"
}

// An agent started while config.toml had an error read no [smtp] table:
// once the file is fixed it opens the addresses the fixed file names.
// A later reload that changes listen opens the new addresses and closes
// the ones no longer named.
func TestHeldAgentOpensListenerWhenFixed(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	a1, a2 := freePort(t), freePort(t)
	listen := func(a string) string { return fmt.Sprintf("[smtp]\nlisten = [%q]\n", a) }
	file := setConfig(t, e, baseConfig+"stroe = 1\n"+listen(a1), 0o600)
	log := startAgentLog(t, e)
	e.WaitFor(func() bool { return strings.Contains(log.String(), file+":4: stroe") }, "the agent to hold the queue")
	if answers(a1) {
		t.Fatalf("%s answers while the file has an error", a1)
	}
	setConfig(t, e, baseConfig+listen(a1), 0o600)
	e.WaitFor(func() bool { return answers(a1) }, "the listener on "+a1+" once the file is fixed")
	c, err := smtp.Dial(a1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("", []string{testenv.Login(t)}, strings.NewReader("Subject: by smtp\r\n\r\nb\r\n")); err != nil {
		t.Fatalf("send on %s: %v", a1, err)
	}
	c.Quit()
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 1 }, "delivery of the message sent by SMTP")

	setConfig(t, e, baseConfig+listen(a2), 0o600)
	e.WaitFor(func() bool { return answers(a2) }, "the listener on "+a2+" after the reload")
	e.WaitFor(func() bool { return !answers(a1) }, "the listener on "+a1+" to close after the reload")
	if out, _, _ := e.Run(nil, "homepost", "check"); strings.Contains(out, "does not answer") {
		t.Errorf("check:\n%s", out)
	}
}

// Where no systemd runs the agent, the background delivery that
// sendmail starts with a broken config.toml stays while mail waits,
// watching the file as the daemon does, delivers once it is fixed, and
// then ends as it does on an empty queue.
func TestBackgroundDeliveryWaitsForFix(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	good := strings.Replace(baseConfig, "= false", "= true", 1)
	setConfig(t, e, good+"store = ~/Maildir\n", 0o600)
	e.MustSend("Subject: waits for the fix\n\nb\n", testenv.Login(t))
	lock := e.Path(".local", "state", "homepost", "agent.lock")
	e.WaitFor(func() bool { return strings.Contains(readLog(e), "held") }, "the background delivery to hold the queue")
	time.Sleep(time.Second)
	if _, ok := agentlock.Running(lock); !ok {
		t.Fatalf("the background delivery left while mail waits for the fix:\n%s", readLog(e))
	}
	if _, stderr, _ := e.Run(nil, "mailq"); !strings.Contains(stderr, "config.toml:4") {
		t.Errorf("mailq does not say why mail waits:\n%s", stderr)
	}
	setConfig(t, e, good, 0o600)
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 1 }, "delivery once the file is fixed")
	e.WaitFor(func() bool { _, ok := agentlock.Running(lock); return !ok }, "the background delivery to end on an empty queue")
}

// readLog is the background delivery's log.
func readLog(e *testenv.Env) string {
	b, _ := os.ReadFile(e.Path(".local", "state", "homepost", "agent.log"))
	return string(b)
}

// A reload that changes where local mail goes retries, at once, the
// local copies that the mistake it fixes deferred, as a change of
// [relay] does for remote ones; mailq no longer shows the old reason.
func TestReloadRetriesDeferredLocalMail(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	if err := os.WriteFile(e.Path("file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	setConfig(t, e, baseConfig+"store = \"mbox:~/file/mbox\"\n", 0o600)
	log := startAgentLog(t, e)
	e.MustSend("Subject: deferred by the store\n\nb\n", testenv.Login(t))
	e.WaitFor(func() bool { return strings.Contains(log.String(), "not a directory") }, "the deferral")
	setConfig(t, e, baseConfig+"store = \"mbox:~/mbox\"\n", 0o600)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(e.Path("mbox"))
		if strings.Contains(string(b), "Subject: deferred by the store") {
			break
		}
		if time.Now().After(deadline) {
			_, stderr, _ := e.Run(nil, "mailq")
			t.Fatalf("the deferred copy waits for its backoff after the store was fixed:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The file is followed when it is created in a directory that did not
// exist when the agent started (mkdir -p, then an editor's save by
// rename): the agent, holding the queue for the missing file that
// HOMEPOST_CONFIG names, takes it up and delivers as it says.
func TestConfigCreatedInMissingDirectory(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	file := e.Path("etc", "homepost", "config.toml")
	e.Vars = append(e.Vars, "HOMEPOST_CONFIG="+file)
	log := startAgentLog(t, e)
	e.WaitFor(func() bool { return strings.Contains(log.String(), "held") }, "the agent to hold the queue")
	e.MustSend("Subject: before the file\n\nb\n", testenv.Login(t))
	if err := os.MkdirAll(e.Path("etc", "homepost"), 0o700); err != nil {
		t.Fatal(err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(baseConfig+"store = \"mbox:~/mbox\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool {
		b, _ := os.ReadFile(e.Path("mbox"))
		return strings.Contains(string(b), "Subject: before the file")
	}, "delivery to the mbox the new file names")
}

// The wait for a changed file to settle is bounded: a file that keeps
// changing, or one left empty, is read all the same about 5 seconds
// after its first change, and the log says so; mail sent meanwhile is
// delivered then, as the file says at that time.
func TestConfigSettleIsBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, logged string
		rewrite      bool
	}{
		{"rewritten every 100ms", "keep changing", true},
		{"left empty", "still empty or missing", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := testenv.New(t, "")
			text := baseConfig + "store = \"mbox:~/mbox\"\n"
			file := setConfig(t, e, text, 0o600)
			log := startAgentLog(t, e)
			start := time.Now()
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			defer close(done)
			if tc.rewrite {
				// Rewritten in place without being emptied first: each
				// write changes the file, and the reading at the end
				// of the wait finds it whole. (os.WriteFile truncates
				// first: under load the reading could land between the
				// truncation and the write, and take the empty file,
				// which is the other case's business.)
				go func() {
					for {
						select {
						case <-done:
							return
						case <-time.After(100 * time.Millisecond):
							if f, err := os.OpenFile(file, os.O_WRONLY, 0); err == nil {
								f.WriteAt([]byte(text), 0)
								f.Close()
							}
						}
					}
				}()
			}
			if tc.rewrite {
				// (An empty file would send it where the machine's
				// /etc/aliases says.)
				e.MustSend("Subject: during\n\nb\n", testenv.Login(t))
			}
			e.WaitFor(func() bool { return strings.Contains(log.String(), tc.logged) }, "the log to say the file was read all the same")
			if d := time.Since(start); d < 4*time.Second || d > 10*time.Second {
				t.Errorf("read after %v, want about 5s", d)
			}
			if tc.rewrite {
				e.WaitFor(func() bool {
					b, _ := os.ReadFile(e.Path("mbox"))
					return strings.Contains(string(b), "Subject: during")
				}, "delivery after the wait")
			}
		})
	}
}
