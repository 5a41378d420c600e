package forwarder

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/config"
)

// env is a temporary home for the made-up user alice, with a fixture
// standing in for /etc/aliases.
type env struct {
	t    *testing.T
	home string
	cfg  *config.Config
	log  bytes.Buffer
	f    *Forwarder
	uid  int // alice's uid
}

// asRoot: the tests run as root in CI containers; then alice gets a
// made-up uid and her files are chowned to it, so that "owned by root"
// and "owned by the user" differ, as on a real machine.
var asRoot = os.Getuid() == 0

const aliceUID = 4100

func newEnv(t *testing.T, extra string) *env {
	t.Helper()
	home := t.TempDir()
	e := &env{t: t, home: home, uid: os.Getuid()}
	if asRoot {
		e.uid = aliceUID
		if err := os.Chown(home, aliceUID, aliceUID); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(home, "config.toml")
	text := fmt.Sprintf(`hostname = "box.example.org"
local_domains = ["box.example.org", "localhost", "box"]
system_aliases = %q
aliases = "~/.config/homepost/aliases"
state_dir = "~/state"
%s`, filepath.Join(home, "etc-aliases"), extra)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(conf, config.NewIdentity("alice", home, "Alice", e.uid))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	e.f = New(cfg, slog.New(slog.NewTextHandler(&e.log, nil)))
	return e
}

// user writes a file owned by alice.
func (e *env) user(rel, content string, mode os.FileMode) string {
	e.t.Helper()
	p := e.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		e.t.Fatal(err)
	}
	if asRoot {
		if err := os.Chown(p, aliceUID, aliceUID); err != nil {
			e.t.Fatal(err)
		}
	}
	return p
}

// root writes a file owned by root (skips the test when not root).
func (e *env) root(rel, content string, mode os.FileMode) string {
	e.t.Helper()
	if !asRoot {
		e.t.Skip("SKIP: needs root to create a file owned by root (or another user)")
	}
	p := e.user(rel, content, mode)
	if err := os.Chown(p, 0, 0); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// system writes the /etc/aliases fixture: owned by root when possible,
// else by the user (both are accepted).
func (e *env) system(content string) {
	e.t.Helper()
	e.user("etc-aliases", content, 0o644)
	if asRoot {
		if err := os.Chown(e.path("etc-aliases"), 0, 0); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) path(rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(e.home, rel)
}

// resolve returns the targets as specs, with ~ for the home directory.
func (e *env) resolve(rcpt string, dt ...string) []string {
	e.t.Helper()
	m := map[string]bool{}
	for _, d := range dt {
		m[d] = true
	}
	var trace []string
	ts := e.f.Explain(rcpt, m, func(depth int, msg string) {
		trace = append(trace, strings.Repeat("  ", depth)+msg)
	})
	var out []string
	for _, t := range ts {
		if t.Via != rcpt {
			e.t.Errorf("target %v: Via %q, want %q", t, t.Via, rcpt)
		}
		s := t.Spec()
		if back := ParseSpec(s, t.Via); back != t {
			e.t.Errorf("ParseSpec(%q) = %+v, want %+v", s, back, t)
		}
		if t.Kind == Fail {
			s = "FAIL " + t.Result.Text()
		}
		out = append(out, strings.ReplaceAll(s, e.home, "~"))
	}
	if testing.Verbose() {
		e.t.Logf("resolve %s:\n%s", rcpt, strings.Join(trace, "\n"))
	}
	return out
}

func (e *env) wantWarning(sub string) {
	e.t.Helper()
	if !strings.Contains(e.log.String(), sub) {
		e.t.Errorf("log lacks %q:\n%s", sub, e.log.String())
	}
}

func (e *env) noWarnings() {
	e.t.Helper()
	if e.log.Len() > 0 {
		e.t.Errorf("unexpected log:\n%s", e.log.String())
	}
}
