// Package review holds black-box tests that build the homepost binary
// and run it under a temporary HOME, as its users do: crash safety,
// no loss and no duplicates, forwarding to remote addresses, and the
// compatibility details that sendmail and Postfix users rely on.
package review

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
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary builds homepost once per test run and returns the directory
// holding it and its sendmail/mailq/... links.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "homepost-review-bin")
		if buildErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-tags", "osusergo,netgo", "-o", filepath.Join(binDir, "homepost"), ".")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
			return
		}
		for _, l := range []string{"sendmail", "mailq", "newaliases", "mail"} {
			os.Symlink("homepost", filepath.Join(binDir, l))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// env is one user's world: a HOME with its own config, outbox and store.
type env struct {
	t    *testing.T
	bin  string
	home string
	vars []string
}

// newEnv makes a temporary HOME whose config turns off the background
// one-shot delivery and the real /etc/aliases; extra is appended.
func newEnv(t *testing.T, extra string) *env {
	t.Helper()
	home := t.TempDir()
	e := &env{t: t, bin: binary(t), home: home}
	cfg := filepath.Join(home, ".config", "homepost", "config.toml")
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	body := "deliver_without_agent = false\nhostname = \"testhost.example\"\n"
	if !strings.Contains(extra, "system_aliases") {
		body += "system_aliases = \"\"\n"
	}
	body += extra
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	e.vars = []string{
		"HOME=" + home, "PATH=" + e.bin + ":/usr/bin:/bin",
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_STATE_HOME=" + filepath.Join(home, ".local", "state"),
		"LANG=C", "TZ=UTC",
	}
	return e
}

func (e *env) path(p ...string) string { return filepath.Join(append([]string{e.home}, p...)...) }

func (e *env) outbox(sub string) string { return e.path(".local", "state", "homepost", "outbox", sub) }

func (e *env) cmd(stdin []byte, name string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(e.bin, name), args...)
	c.Env = e.vars
	c.Dir = "/"
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	return c
}

// run runs one of the binary's names and returns stdout, stderr and the
// exit code.
func (e *env) run(stdin []byte, name string, args ...string) (string, string, int) {
	e.t.Helper()
	c := e.cmd(stdin, name, args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run %s: %v", name, err)
	}
	return out.String(), errb.String(), code
}

// mustSend queues a message with sendmail and fails unless it exits 0.
func (e *env) mustSend(msg string, args ...string) {
	e.t.Helper()
	if _, stderr, code := e.run([]byte(msg), "sendmail", args...); code != 0 {
		e.t.Fatalf("sendmail %v: exit %d: %s", args, code, stderr)
	}
}

// once runs "homepost agent --once" and returns its log.
func (e *env) once() string {
	e.t.Helper()
	_, stderr, code := e.run(nil, "homepost", "agent", "--once")
	if code != 0 {
		e.t.Fatalf("agent --once: exit %d: %s", code, stderr)
	}
	return stderr
}

// files lists the names in a directory.
func files(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// login is the name of the user running the tests.
func login(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// smarthost is an in-process SMTP server that answers each recipient as
// told and records what it accepted.
type smarthost struct {
	mu    sync.Mutex
	got   map[string][]string // recipient → messages
	reply map[string]*smtp.SMTPError
	conns atomic.Int32
	addr  string
}

func (h *smarthost) NewSession(*smtp.Conn) (smtp.Session, error) {
	h.conns.Add(1)
	return &hostSession{h: h}, nil
}

type hostSession struct {
	h     *smarthost
	rcpts []string
}

func (s *hostSession) AuthPlain(string, string) error       { return nil }
func (s *hostSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *hostSession) Reset()                               { s.rcpts = nil }
func (s *hostSession) Logout() error                        { return nil }
func (s *hostSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if e := s.h.reply[to]; e != nil {
		return e
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
	defer s.h.mu.Unlock()
	for _, rc := range s.rcpts {
		s.h.got[rc] = append(s.h.got[rc], string(b))
	}
	return nil
}

func (h *smarthost) count(rcpt string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got[rcpt])
}

func (h *smarthost) all() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[string]int{}
	for k, v := range h.got {
		m[k] = len(v)
	}
	return m
}

func startSmarthost(t *testing.T) *smarthost {
	h := &smarthost{got: map[string][]string{}, reply: map[string]*smtp.SMTPError{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(h)
	s.Domain = "smarthost.test"
	s.AllowInsecureAuth = true
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0) // agents killed on purpose
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	h.addr = l.Addr().String()
	return h
}
