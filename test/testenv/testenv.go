// Package testenv is what homepost's black-box tests share: it builds the
// binary once per test run (build.go) and gives each test its own user's world (a
// temporary HOME with its config, outbox and store), ways to run the
// binary's programs in it as its users do, independent readers
// (Python's mailbox module), and an in-process SMTP smarthost.
package testenv

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/agentlock"
)

// Env is one user's world: a HOME with its own config, outbox and store.
type Env struct {
	T    *testing.T
	Bin  string // the directory of the binary and its links
	Home string
	Vars []string // the environment the programs run with
}

// New makes a temporary HOME. extraConfig is appended to a config
// file that turns off the background one-shot delivery, so tests decide
// when delivery happens.
func New(t *testing.T, extraConfig string) *Env {
	t.Helper()
	home := t.TempDir()
	// Registered after TempDir's, so run before it: a delivery that
	// sendmail started in the background (deliver_without_agent) may
	// still be finishing (recycling queue files, writing its status)
	// when the test is done with it; wait for it to end before the
	// HOME is removed, and end it after a while.
	t.Cleanup(func() {
		awaitNoAgent(filepath.Join(home, ".local", "state", "homepost", "agent.lock"))
		awaitNoProcess(home)
	})
	e := At(t, home)
	cfg := filepath.Join(home, ".config", "homepost", "config.toml")
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	body := "deliver_without_agent = false\nhostname = \"testhost.example\"\n"
	if !strings.Contains(extraConfig, "system_aliases") {
		// The real /etc/aliases must not steer the tests.
		body += "system_aliases = \"\"\n"
	}
	body += extraConfig
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// At is the Env of an existing HOME, as New makes it, without writing
// its config or cleaning up after it: a HOME that a test found again in
// a copy of a disk, for one.
func At(t *testing.T, home string) *Env {
	e := &Env{T: t, Bin: Binary(t), Home: home}
	e.Vars = []string{
		"HOME=" + home, "PATH=" + e.Bin + ":/usr/bin:/bin",
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_STATE_HOME=" + filepath.Join(home, ".local", "state"),
		"LANG=C", "TZ=UTC",
	}
	return e
}

// awaitNoAgent waits until no process holds the agent lock at path; one
// still holding it after five seconds is killed. The lock must stay free
// for a moment: a background delivery that a sendmail started just
// before may not have taken it yet, and would write into the HOME while
// it is removed.
func awaitNoAgent(path string) {
	deadline := time.Now().Add(5 * time.Second)
	free := 0
	for {
		pid, running := agentlock.Running(path)
		if !running {
			if free++; free >= 20 {
				return
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		free = 0
		if time.Now().After(deadline) {
			if pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(50 * time.Millisecond)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// awaitNoProcess waits until no process but this one runs with HOME set
// to home, and kills those still running after five seconds. A
// background delivery that a sendmail started may begin only after the
// agent lock has been seen free for a while (on a loaded machine its
// start takes longer than awaitNoAgent waits), and then writes into the
// HOME while it is removed.
func awaitNoProcess(home string) {
	want := []byte("HOME=" + home + "\x00")
	deadline := time.Now().Add(5 * time.Second)
	for {
		var pids []int
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
			if err == nil && (bytes.HasPrefix(b, want) || bytes.Contains(b, append([]byte{0}, want...))) {
				pids = append(pids, pid)
			}
		}
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(50 * time.Millisecond)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Path joins elements under the HOME.
func (e *Env) Path(p ...string) string { return filepath.Join(append([]string{e.Home}, p...)...) }

// Outbox is a subdirectory (tmp, new, cur) of the outbox.
func (e *Env) Outbox(sub string) string { return e.Path(".local", "state", "homepost", "outbox", sub) }

// LockHolder is the pid of the live process that holds the agent lock
// of the default state directory (a daemon or a background delivery), or
// 0 when none does.
func (e *Env) LockHolder() int {
	b, _ := os.ReadFile(e.Path(".local", "state", "homepost", "agent.lock"))
	var pid int
	fmt.Sscanf(string(b), "%d", &pid)
	if pid > 0 && syscall.Kill(pid, 0) == nil {
		return pid
	}
	return 0
}

// Cmd prepares one of the binary's programs, run from / as cron does.
func (e *Env) Cmd(stdin []byte, name string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(e.Bin, name), args...)
	c.Env = e.Vars
	c.Dir = "/"
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	return c
}

// Run runs one of the binary's names and returns stdout, stderr and the
// exit code.
func (e *Env) Run(stdin []byte, name string, args ...string) (string, string, int) {
	e.T.Helper()
	c := e.Cmd(stdin, name, args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.T.Fatalf("run %s: %v", name, err)
	}
	return out.String(), errb.String(), code
}

// MustSend queues a message with sendmail and fails the test unless it
// exits 0.
func (e *Env) MustSend(msg string, args ...string) {
	e.T.Helper()
	if _, stderr, code := e.Run([]byte(msg), "sendmail", args...); code != 0 {
		e.T.Fatalf("sendmail %v: exit %d: %s", args, code, stderr)
	}
}

// DeliverWithoutAgent turns on the background delivery that sendmail
// starts where no agent runs (New turns it off).
func (e *Env) DeliverWithoutAgent() {
	e.T.Helper()
	cfg := e.Path(".config", "homepost", "config.toml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		e.T.Fatal(err)
	}
	if err := os.WriteFile(cfg, bytes.Replace(b, []byte("deliver_without_agent = false"), []byte("deliver_without_agent = true"), 1), 0o600); err != nil {
		e.T.Fatal(err)
	}
}

// Once runs "homepost agent --once".
func (e *Env) Once() string {
	e.T.Helper()
	_, stderr, code := e.Run(nil, "homepost", "agent", "--once")
	if code != 0 {
		e.T.Fatalf("agent --once: exit %d: %s", code, stderr)
	}
	return stderr
}

// StartAgent runs the agent in the background until the test ends.
func (e *Env) StartAgent() *exec.Cmd {
	e.T.Helper()
	c := e.Cmd(nil, "homepost", "agent")
	var errb LockedBuffer
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
		if e.T.Failed() {
			e.T.Logf("agent log:\n%s", errb.String())
		}
	})
	e.WaitFor(func() bool { return strings.Contains(errb.String(), "agent started") }, "agent start")
	return c
}

// LockedBuffer is a bytes.Buffer that a process and a test may use at once.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// WaitFor polls cond for up to 20 seconds.
func (e *Env) WaitFor(cond func() bool, what string) {
	e.T.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.T.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Login is the name of the user running the tests.
func Login(t testing.TB) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// Files lists the names in a directory.
func Files(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// Python runs a python3 script with args and returns its output; the
// test is skipped when python3 is missing.
func Python(t testing.TB, script string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("SKIP: python3 not installed")
	}
	c := exec.Command("python3", append([]string{"-c", script}, args...)...)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	return string(out)
}

// Smarthost is an in-process SMTP server that answers each recipient as
// told and records what it accepted.
type Smarthost struct {
	mu    sync.Mutex
	got   map[string][]string // recipient → messages
	reply map[string]*smtp.SMTPError
	asked map[string]int // recipient → RCPT commands, refused ones too
	limit int            // recipients per transaction, 0: no limit
	txns  []int          // recipients of each message accepted, in order
	slow  time.Duration  // the wait before the reply to the end of data
	// onData, when set, sees each message's data before its end is
	// answered (OnData).
	onData func(data []byte) error
	conns  atomic.Int32
	Addr   string // host:port on 127.0.0.1
}

func (h *Smarthost) NewSession(*smtp.Conn) (smtp.Session, error) {
	h.conns.Add(1)
	return &hostSession{h: h}, nil
}

type hostSession struct {
	h     *Smarthost
	rcpts []string
}

func (s *hostSession) AuthPlain(string, string) error       { return nil }
func (s *hostSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *hostSession) Reset()                               { s.rcpts = nil }
func (s *hostSession) Logout() error                        { return nil }
func (s *hostSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.asked[to]++
	if e := s.h.reply[to]; e != nil {
		return e
	}
	if s.h.limit > 0 && len(s.rcpts) >= s.h.limit {
		// RFC 5321 section 4.5.3.1.10, as Postfix's smtpd_recipient_limit
		// says it, without announcing the limit in EHLO.
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Error: too many recipients"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *hostSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.h.mu.Lock()
	f := s.h.onData
	s.h.mu.Unlock()
	if f != nil {
		if err := f(b); err != nil {
			return err
		}
	}
	s.h.mu.Lock()
	for _, rc := range s.rcpts {
		s.h.got[rc] = append(s.h.got[rc], string(b))
	}
	s.h.txns = append(s.h.txns, len(s.rcpts))
	slow := s.h.slow
	s.h.mu.Unlock()
	// The message is taken once its data has come, as a real server
	// commits it at the final dot, whether or not its reply reaches
	// the client.
	time.Sleep(slow)
	return nil
}

// Slow makes the host wait d before it answers the end of a message's
// data (a server that scans content), the message already taken.
func (h *Smarthost) Slow(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.slow = d
}

// Set makes the host answer RCPT TO:<rcpt> with e (nil: accept).
func (h *Smarthost) Set(rcpt string, e *smtp.SMTPError) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reply[rcpt] = e
}

// OnData makes the host call f with the data of each message before it
// answers its end: f may wait (the client then waits for the answer),
// and an error it returns is the answer, the message not accepted.
func (h *Smarthost) OnData(f func(data []byte) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onData = f
}

// Limit makes the host refuse every RCPT of a transaction past the n-th
// with 452 4.5.3 (0: no limit), as a server with a recipient limit does.
func (h *Smarthost) Limit(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.limit = n
}

// Transactions returns how many recipients each message the host
// accepted had, in order.
func (h *Smarthost) Transactions() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.txns...)
}

// Count is how many messages the host accepted for rcpt.
func (h *Smarthost) Count(rcpt string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got[rcpt])
}

// Asked is how many times the host was asked for rcpt (RCPT TO), its
// refusals included.
func (h *Smarthost) Asked(rcpt string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.asked[rcpt]
}

// StartSmarthost starts a smarthost on 127.0.0.1 for the test's life.
func StartSmarthost(t testing.TB) *Smarthost {
	h := &Smarthost{got: map[string][]string{}, reply: map[string]*smtp.SMTPError{}, asked: map[string]int{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(h)
	s.Domain = "smarthost.test"
	s.AllowInsecureAuth = true
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0) // agents are killed on purpose
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	h.Addr = l.Addr().String()
	return h
}

// Got returns the messages the host accepted for rcpt.
func (h *Smarthost) Got(rcpt string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got[rcpt]...)
}

// All returns how many messages the host accepted, by recipient.
func (h *Smarthost) All() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[string]int{}
	for k, v := range h.got {
		m[k] = len(v)
	}
	return m
}

// Conns is how many connections the host has accepted.
func (h *Smarthost) Conns() int { return int(h.conns.Load()) }

// OwnAgent starts "homepost agent" with a log of its own, killed when
// the test ends, and returns it, its log, and a channel closed once it
// has exited. It does not wait for the agent to start (AwaitStarted).
func (e *Env) OwnAgent() (*exec.Cmd, *LockedBuffer, <-chan struct{}) {
	e.T.Helper()
	c := e.Cmd(nil, "homepost", "agent")
	log := &LockedBuffer{}
	c.Stderr = log
	if err := c.Start(); err != nil {
		e.T.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { c.Wait(); close(exited) }()
	e.T.Cleanup(func() {
		c.Process.Kill()
		<-exited
	})
	return c, log, exited
}

// AwaitStarted waits until an agent (OwnAgent) says in log that it
// started; the test fails, with the log, if it exits first.
func (e *Env) AwaitStarted(log *LockedBuffer, exited <-chan struct{}) {
	e.T.Helper()
	e.WaitFor(func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		return strings.Contains(log.String(), "agent started")
	}, "the agent's start or exit")
	select {
	case <-exited:
		e.T.Fatalf("the agent exited:\n%s", log.String())
	default:
	}
}
