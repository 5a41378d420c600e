package e2e

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
)

// homepost flush typed at a terminal, with no agent running, delivers
// in the foreground: an exec: relay program that asks there (ssh for a
// passphrase or a host key, as "exec:ssh gateway sendmail -t" does) is
// answered, as before exec: programs got a process group of their own.
// In a group of its own, outside the terminal's foreground, its read of
// the terminal stopped it (SIGTTIN), and the message was deferred at
// data_timeout.
func TestFlushAtTerminalRelayProgramAsks(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to give flush a terminal")
	}
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "answer")
	prog := filepath.Join(dir, "ask")
	body := "#!/bin/sh\ncat >/dev/null\nprintf 'passphrase: ' >/dev/tty\nread pw </dev/tty\necho \"$pw\" >" + out + "\n"
	if err := os.WriteFile(prog, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	e := testenv.New(t, "[relay]\nurl = \"exec:"+prog+"\"\ndata_timeout = \"5s\"\n")
	e.MustSend("Subject: asks\n\nx\n", "bob@remote.example")
	cmd := exec.Command(script, "-qec", filepath.Join(e.Bin, "homepost")+" flush", "/dev/null")
	cmd.Env = e.Vars
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = pr
	said := &lockedText{}
	cmd.Stdout, cmd.Stderr = said, said
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	// Typed once the program asks.
	for end := time.Now().Add(10 * time.Second); !strings.Contains(said.String(), "passphrase:") && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	pw.WriteString("secret\r")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("flush did not end; it said:\n%s", said.String())
	}
	pw.Close()
	if b, _ := os.ReadFile(out); strings.TrimSpace(string(b)) != "secret" {
		t.Fatalf("the program did not get its answer from the terminal (%q); flush said:\n%s", b, said.String())
	}
	if q, _, _ := e.Run(nil, "mailq"); !strings.Contains(q, "empty") {
		t.Errorf("mailq after the flush:\n%s", q)
	}
}

// lockedText is what a program writes, read while it runs.
type lockedText struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedText) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedText) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// homepost agent or flush typed at a terminal: the exec: relay program
// stays in the terminal's foreground, where it can ask (ssh for a
// passphrase), but a ^C there is homepost's alone. The kernel sends
// SIGINT to the whole foreground process group; the program, killed by
// it after it had read the message whole (it may have handed it on),
// was recorded as failed and the message sent again at the next try.
// homepost stops it by its own rules instead, as a daemon does at
// SIGTERM: it waits for the answer to a message the program has read
// whole.
func TestInterruptAtTerminalSendsOnce(t *testing.T) {
	for _, cmd := range []string{"agent", "flush"} {
		t.Run(cmd, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			got := filepath.Join(dir, "delivered")
			answer := filepath.Join(dir, "answer")
			prog := filepath.Join(dir, "relay")
			body := "#!/bin/sh\n" +
				"if [ ! -e " + answer + " ]; then printf 'passphrase: ' >/dev/tty; read pw </dev/tty; echo \"$pw\" >" + answer + "; fi\n" +
				"cat >>" + got + "\necho read >>" + got + ".done\nsleep 4\nexit 0\n"
			if err := os.WriteFile(prog, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			e := testenv.New(t, "[relay]\nurl = \"exec:"+prog+"\"\ndata_timeout = \"60s\"\n")
			if cmd == "flush" {
				e.MustSend("Subject: once\n\nx\n", "bob@remote.example")
			}
			j := startAtTerminal(t, e, cmd)
			if cmd == "agent" {
				e.WaitFor(func() bool { return strings.Contains(j.log.String(), "agent started") }, "agent start")
				e.MustSend("Subject: once\n\nx\n", "bob@remote.example")
			}
			e.WaitFor(func() bool { return strings.Contains(j.shown.String(), "passphrase:") }, "the program's question at the terminal")
			j.pty.WriteString("secret\r")
			e.WaitFor(func() bool { _, err := os.Stat(got + ".done"); return err == nil }, "the program to read the message")
			if b, _ := os.ReadFile(answer); strings.TrimSpace(string(b)) != "secret" {
				t.Fatalf("the program did not get its answer from the terminal: %q", b)
			}
			time.Sleep(200 * time.Millisecond) // homepost sees that it read it all
			j.pty.WriteString("\x03")
			j.wait(30 * time.Second)
			if !regexp.MustCompile(`msg=delivery .*to=bob@remote.example .*status=sent`).MatchString(j.log.String()) {
				t.Errorf("the message was not logged as sent")
			}
			if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
				t.Errorf("mailq after ^C:\n%s", q)
			}
			// What a resend would send: nothing.
			if _, stderr, code := e.Run(nil, "homepost", "flush"); code != 0 {
				t.Errorf("flush: exit %d: %s", code, stderr)
			}
			if b, _ := os.ReadFile(got + ".done"); string(b) != "read\n" {
				t.Errorf("the program was given the message %d times", strings.Count(string(b), "read"))
			}
		})
	}
}

// A ^C typed while the exec: program asks at the terminal, before it
// has read the message, ends homepost (agent or flush) within seconds,
// as it did when the ^C killed the program: the delivery is cancelled
// 2 seconds later, the program killed and the message deferred. flush
// ran its delivery to the end: the program, which no longer dies of
// the ^C, was left to wait for an answer until data_timeout.
func TestInterruptWhileRelayProgramAsks(t *testing.T) {
	for _, cmd := range []string{"agent", "flush"} {
		t.Run(cmd, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			prog := filepath.Join(dir, "relay")
			got := filepath.Join(dir, "delivered")
			body := "#!/bin/sh\nprintf 'passphrase: ' >/dev/tty\nread pw </dev/tty\ncat >" + got + "\n"
			if err := os.WriteFile(prog, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			e := testenv.New(t, "[relay]\nurl = \"exec:"+prog+"\"\ndata_timeout = \"120s\"\n")
			if cmd == "flush" {
				e.MustSend("Subject: asks\n\nx\n", "bob@remote.example")
			}
			j := startAtTerminal(t, e, cmd)
			if cmd == "agent" {
				e.WaitFor(func() bool { return strings.Contains(j.log.String(), "agent started") }, "agent start")
				e.MustSend("Subject: asks\n\nx\n", "bob@remote.example")
			}
			e.WaitFor(func() bool { return strings.Contains(j.shown.String(), "passphrase:") }, "the program's question at the terminal")
			start := time.Now()
			j.pty.WriteString("\x03")
			j.wait(20 * time.Second)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("homepost %s took %v to end after ^C", cmd, d.Round(time.Millisecond))
			}
			if _, err := os.Stat(got); err == nil {
				t.Errorf("the program went on to read the message")
			}
			if js, _, _ := e.Run(nil, "mailq", "--json"); !strings.Contains(js, `"queue_name":"deferred"`) {
				t.Errorf("mailq --json after ^C:\n%s", js)
			}
		})
	}
}

// termJob is a homepost program run as a shell runs a command typed at
// a terminal: its process group is the foreground of its controlling
// terminal (setsid(2) and TIOCSCTTY make it so). What the test writes
// to pty is typed there; shown is what the terminal showed, log the
// program's standard error.
type termJob struct {
	t      *testing.T
	pty    *os.File
	shown  *lockedText
	log    *testenv.LockedBuffer
	exited chan error
}

func startAtTerminal(t *testing.T, e *testenv.Env, args ...string) *termJob {
	t.Helper()
	pty, tty := testenv.OpenPTY(t)
	j := &termJob{t: t, pty: pty, shown: &lockedText{}, log: &testenv.LockedBuffer{}, exited: make(chan error, 1)}
	go io.Copy(j.shown, pty) // ends with EIO once the terminal is gone
	c := e.Cmd(nil, "homepost", args...)
	c.Stdin, c.Stdout, c.Stderr = tty, tty, j.log
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { j.exited <- c.Wait() }()
	t.Cleanup(func() {
		c.Process.Kill()
		if t.Failed() {
			t.Logf("homepost %v log:\n%s\nterminal:\n%s", args, j.log.String(), j.shown.String())
		}
	})
	return j
}

// wait waits for the program to exit 0.
func (j *termJob) wait(d time.Duration) {
	j.t.Helper()
	select {
	case err := <-j.exited:
		if err != nil {
			j.t.Errorf("exit: %v", err)
		}
	case <-time.After(d):
		j.t.Fatalf("still running %v after ^C", d)
	}
}
