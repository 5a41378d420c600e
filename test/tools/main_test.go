// Package tools tests homepost's commands for the user's system (cron,
// notify, check) as a user meets them: the real binary, run under a
// temporary HOME, with real files and processes.
package tools

import (
	"bytes"
	"fmt"
	"io"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"homepost/outbox"
	"homepost/test/testenv"
)

// bin is the homepost binary built once for the whole package.
var bin string

func TestMain(m *testing.M) {
	dir, err := testenv.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "homepost")
	os.Exit(m.Run())
}

// env is a temporary user: HOME and the XDG directories inside it.
type env struct {
	t     *testing.T
	home  string
	state string
	extra []string // more KEY=VALUE for every command
}

// newEnv makes a home whose config keeps mail in the outbox (no one-shot
// delivery), so tests can read what was queued.
func newEnv(t *testing.T) *env {
	t.Helper()
	home := t.TempDir()
	e := &env{t: t, home: home, state: filepath.Join(home, ".local", "state")}
	e.writeConfig("deliver_without_agent = false\nsystem_aliases = \"\"\n")
	return e
}

func (e *env) configPath() string { return filepath.Join(e.home, ".config", "homepost", "config.toml") }

func (e *env) writeConfig(s string) {
	e.t.Helper()
	p := e.configPath()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "HOMEPOST_CONFIG", "MAILTO", "NOTIFY_SOCKET":
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "HOME="+e.home, "XDG_CONFIG_HOME="+filepath.Join(e.home, ".config"), "XDG_STATE_HOME="+e.state)
	return append(out, e.extra...)
}

// run runs homepost with args and returns its output and exit status.
func (e *env) run(stdin string, args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = e.environ()
	cmd.Dir = e.home
	cmd.Stdin = strings.NewReader(stdin)
	var o, er bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &er
	err := cmd.Run()
	code = 0
	if err != nil {
		xe, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("run homepost %v: %v", args, err)
		}
		code = xe.ExitCode()
	}
	return o.String(), er.String(), code
}

// queued is one message read back from the outbox.
type queued struct {
	env  *outbox.Envelope
	msg  *mail.Message
	body string
	raw  string
}

// queue reads every message in the outbox's new/ with outbox.Open.
func (e *env) queue() []queued {
	e.t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.state, "homepost", "outbox", "new", "*"))
	sort.Strings(files)
	var out []queued
	for _, f := range files {
		m, err := outbox.Open(f)
		if err != nil {
			e.t.Fatalf("outbox.Open(%s): %v", f, err)
		}
		raw, err := io.ReadAll(m.Body())
		m.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			e.t.Fatalf("%s: not a message: %v\n%s", f, err, raw)
		}
		body, _ := io.ReadAll(msg.Body)
		out = append(out, queued{env: m.Env, msg: msg, body: string(body), raw: string(raw)})
	}
	return out
}

// subject decodes the Subject field.
func (q queued) subject() string {
	s, err := new(mimeDecoder).DecodeHeader(q.msg.Header.Get("Subject"))
	if err != nil {
		return q.msg.Header.Get("Subject")
	}
	return s
}

func (q queued) rcpts() []string {
	var r []string
	for _, rc := range q.env.Rcpts {
		r = append(r, rc.Addr)
	}
	return r
}
