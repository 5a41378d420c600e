// Package e2e holds black-box tests of the core pipeline: they build the
// homepost binary and run it, as its users do, under a temporary HOME.
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
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
		binDir, buildErr = os.MkdirTemp("", "homepost-e2e-bin")
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

// newEnv makes a temporary HOME. extraConfig is appended to a config
// file that turns off the background one-shot delivery, so tests decide
// when delivery happens.
func newEnv(t *testing.T, extraConfig string) *env {
	t.Helper()
	home := t.TempDir()
	e := &env{t: t, bin: binary(t), home: home}
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
	e.vars = []string{
		"HOME=" + home, "PATH=" + e.bin + ":/usr/bin:/bin",
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_STATE_HOME=" + filepath.Join(home, ".local", "state"),
		"LANG=C",
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

// mustSend queues a message with sendmail and fails the test unless it
// exits 0.
func (e *env) mustSend(msg string, args ...string) {
	e.t.Helper()
	if _, stderr, code := e.run([]byte(msg), "sendmail", args...); code != 0 {
		e.t.Fatalf("sendmail %v: exit %d: %s", args, code, stderr)
	}
}

// once runs "homepost agent --once".
func (e *env) once() string {
	e.t.Helper()
	_, stderr, code := e.run(nil, "homepost", "agent", "--once")
	if code != 0 {
		e.t.Fatalf("agent --once: exit %d: %s", code, stderr)
	}
	return stderr
}

// startAgent runs the agent in the background until the test ends.
func (e *env) startAgent() *exec.Cmd {
	e.t.Helper()
	c := e.cmd(nil, "homepost", "agent")
	var errb lockedBuffer
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
		if e.t.Failed() {
			e.t.Logf("agent log:\n%s", errb.String())
		}
	})
	e.waitFor(func() bool { return strings.Contains(errb.String(), "agent started") }, "agent start")
	return c
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls cond for up to 20 seconds.
func (e *env) waitFor(cond func() bool, what string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// login is the name of the user running the tests.
func login(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
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

// python runs a python3 script with args and returns its output; the
// test is skipped when python3 is missing.
func python(t *testing.T, script string, args ...string) string {
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
