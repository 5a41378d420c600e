package mailx

import (
	"bytes"
	"io"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"homepost/outbox"
)

// home is a temporary user home with XDG directories inside it and a
// config that keeps the shim from starting a delivery agent.
type home struct {
	dir string
	env []string
}

func newHome(t *testing.T) *home {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte("deliver_without_agent = false\nsystem_aliases = \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &home{dir: dir}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "HOMEPOST_CONFIG", "MAILRC", "MAIL", "MBOX", "TMUX", "VISUAL", "EDITOR", "PAGER":
			continue
		}
		h.env = append(h.env, kv)
	}
	h.env = append(h.env,
		"HOME="+dir,
		"XDG_STATE_HOME="+filepath.Join(dir, ".local/state"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, ".config"),
		"HOMEPOST_CONFIG="+cfg,
	)
	return h
}

// setStore makes the config use an mbox store at path.
func (h *home) setStore(t *testing.T, store string) {
	t.Helper()
	cfg := filepath.Join(h.dir, "config.toml")
	data := "deliver_without_agent = false\nsystem_aliases = \"\"\nstore = \"" + store + "\"\n"
	if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (h *home) path(p string) string { return filepath.Join(h.dir, p) }

// mail runs "homepost mail -n ARGS" with stdin from a pipe; -n keeps the
// machine's /etc/mail.rc out of the test.
func (h *home) mail(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"mail", "-n"}, args...)...)
	cmd.Env = h.env
	cmd.Dir = h.dir
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// queued is a message read back from the outbox.
type queued struct {
	sender string
	rcpts  []string
	raw    string
	msg    *mail.Message
	body   string
}

// queue reads every message in the outbox's new/.
func (h *home) queue(t *testing.T) []queued {
	t.Helper()
	dir := h.path(".local/state/homepost/outbox/new")
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []queued
	for _, e := range entries {
		m, err := outbox.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(m.Body())
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		q := queued{sender: m.Env.Sender, raw: string(raw)}
		for _, r := range m.Env.Rcpts {
			q.rcpts = append(q.rcpts, r.Addr)
		}
		q.msg, err = mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("queued message does not parse: %v\n%s", err, raw)
		}
		b, _ := io.ReadAll(q.msg.Body)
		q.body = string(b)
		out = append(out, q)
	}
	return out
}

// only returns the single queued message.
func (h *home) only(t *testing.T) queued {
	t.Helper()
	q := h.queue(t)
	if len(q) != 1 {
		t.Fatalf("%d messages queued, want 1", len(q))
	}
	return q[0]
}

// python runs a python3 script and returns its output; the test is
// skipped (loudly) without python3.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("SKIP: python3 is not installed: cannot check the mailbox independently")
	}
	cmd := exec.Command(py, append([]string{"-c", script}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	return string(out)
}
