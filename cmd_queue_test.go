package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/agent"
	"homepost/config"
	"homepost/outbox"
	"homepost/submit"
	"homepost/sysexits"
	"homepost/test/testenv"
)

// queueBinary returns the homepost binary, built once per test run.
func queueBinary(t *testing.T) string {
	t.Helper()
	return testenv.Program(t, "homepost")
}

// queueHome is a temporary HOME with a few queued messages.
type queueHome struct {
	t   *testing.T
	bin string
	env []string
	cfg *config.Config
	ids []string
}

func newQueueHome(t *testing.T, n int) *queueHome {
	bin := queueBinary(t) // before HOME moves: go build uses its caches
	home := t.TempDir()
	// Mail to the user stays in ~/Maildir whatever /etc/aliases says.
	conf := filepath.Join(home, "config.toml")
	if err := os.WriteFile(conf, []byte("system_aliases = \"\"\ndeliver_without_agent = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home + "/.config", "XDG_STATE_HOME=" + home + "/.local/state",
		"PATH=" + os.Getenv("PATH"), "HOMEPOST_CONFIG=" + conf}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	h := &queueHome{t: t, bin: bin, env: env, cfg: cfg}
	for i := range n {
		res, err := submit.Submit(cfg, submit.Options{Recipients: []string{"bob@example.org"}},
			strings.NewReader("Subject: message "+string(rune('A'+i))+"\n\nbody\n"))
		if err != nil {
			t.Fatal(err)
		}
		h.ids = append(h.ids, res.ID)
	}
	return h
}

func (h *queueHome) run(stdin string, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// state returns "new", "cur" or "" (gone) and whether the message is held.
func (h *queueHome) state(id string) (string, bool) {
	h.t.Helper()
	p, err := outbox.Dir(h.cfg.Outbox).Find(id)
	if err != nil {
		return "", false
	}
	m, err := outbox.Open(p)
	if err != nil {
		h.t.Fatal(err)
	}
	defer m.Close()
	return filepath.Base(filepath.Dir(p)), m.Env.Held
}

func TestQueueCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	h := newQueueHome(t, 4)
	a, b, c, d := h.ids[0], h.ids[1], h.ids[2], h.ids[3]

	out, errOut, code := h.run("", "queue", "hold", a+"!")
	if code != 0 || out != "Placed on hold: 1 message\n" {
		t.Fatalf("hold: %d %q %q", code, out, errOut)
	}
	// A held message leaves new/ so that no agent takes it.
	if sub, held := h.state(a); sub != "cur" || !held {
		t.Errorf("after hold: in %s, held %v", sub, held)
	}
	if out, _, _ := h.run("", "queue", "hold", a); out != "Placed on hold: 0 messages\n" {
		t.Errorf("hold twice: %q", out)
	}
	if out, errOut, _ := h.run("", "mailq"); !strings.Contains(out, a+"!") {
		t.Errorf("mailq does not show %s as held:\n%s%s", a, out, errOut)
	}

	if out, _, code := h.run("", "queue", "release", a); code != 0 || out != "Released from hold: 1 message\n" {
		t.Errorf("release: %d %q", code, out)
	}
	// Released, it goes back to new/, where an agent claims it.
	if sub, held := h.state(a); sub != "new" || held {
		t.Errorf("after release: in %s, held %v", sub, held)
	}
	if out, _, _ := h.run("", "queue", "release", a); out != "Released from hold: 0 messages\n" {
		t.Errorf("release twice: %q", out)
	}

	// Delete by ID, from standard input, and an unknown ID.
	out, errOut, code = h.run(c+"\n", "queue", "delete", b, "-", "NOSUCHID")
	if code != 66 || out != "Deleted: 2 messages\n" || !strings.Contains(errOut, "homepost: queue delete: NOSUCHID: no such message") {
		t.Errorf("delete: %d %q %q", code, out, errOut)
	}
	for _, id := range []string{b, c} {
		if sub, _ := h.state(id); sub != "" {
			t.Errorf("%s still in %s", id, sub)
		}
	}
	if sub, _ := h.state(d); sub != "new" {
		t.Errorf("untouched message moved to %q", sub)
	}

	if out, _, code := h.run("", "queue", "delete", "ALL"); code != 0 || out != "Deleted: 2 messages\n" {
		t.Errorf("delete ALL: %d %q", code, out)
	}
	names, _ := outbox.Dir(h.cfg.Outbox).Names("new")
	cur, _ := outbox.Dir(h.cfg.Outbox).Names("cur")
	if len(names)+len(cur) != 0 {
		t.Errorf("left: %v %v", names, cur)
	}
}

func TestQueueUsage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	h := newQueueHome(t, 0)
	for _, args := range [][]string{{"queue"}, {"queue", "purge", "x"}, {"queue", "hold"}, {"queue", "delete", "../x"}} {
		if _, errOut, code := h.run("", args...); code != sysexits.Usage || !strings.Contains(errOut, "homepost: queue") && !strings.Contains(errOut, "usage:") {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
	if out, _, code := h.run("", "queue", "--help"); code != 0 || !strings.Contains(out, "postsuper") {
		t.Errorf("--help: %d %q", code, out)
	}
}

// TestQueueSignalsAgent: a running agent is asked for a pass (SIGUSR2,
// not SIGHUP: a queue change is no configuration to reload) after a
// change, to log it. This test process plays the agent: it holds the
// lock, writes the status file of an agent that takes requests, and
// catches the signal.
func TestQueueSignalsAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	h := newQueueHome(t, 1)
	lock, err := agent.TryLock(h.cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	if err := os.WriteFile(filepath.Join(h.cfg.StateDir, "agent.status"), fmt.Appendf(nil, "%d 0\n", os.Getpid()), 0o600); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	if _, errOut, code := h.run("", "queue", "hold", h.ids[0]); code != 0 {
		t.Fatalf("hold: %d %s", code, errOut)
	}
	select {
	case s := <-sigs:
		if s != syscall.SIGUSR2 {
			t.Errorf("the agent got %v, want SIGUSR2", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the agent got no SIGUSR2")
	}
}

// TestQueueHoldWithAgent: an agent leaves a held message alone and
// delivers it once it is released.
func TestQueueHoldWithAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	h := newQueueHome(t, 0)
	res, err := submit.Submit(h.cfg, submit.Options{Recipients: []string{h.cfg.User}},
		strings.NewReader("Subject: held for a while\n\nbody\n"))
	if err != nil {
		t.Fatal(err)
	}
	id := res.ID
	delivered := func() int {
		names, _ := os.ReadDir(filepath.Join(h.cfg.Home, "Maildir", "new"))
		return len(names)
	}
	if _, errOut, code := h.run("", "queue", "hold", id); code != 0 {
		t.Fatalf("hold: %s", errOut)
	}
	if _, errOut, code := h.run("", "agent", "--once"); code != 0 {
		t.Fatalf("agent --once: %d %s", code, errOut)
	}
	if n := delivered(); n != 0 {
		t.Fatalf("the agent delivered a held message (%d in ~/Maildir/new)", n)
	}
	if sub, held := h.state(id); sub == "" || !held {
		t.Fatalf("held message: in %q, held %v", sub, held)
	}
	if _, errOut, code := h.run("", "queue", "release", id); code != 0 {
		t.Fatalf("release: %s", errOut)
	}
	if _, errOut, code := h.run("", "agent", "--once"); code != 0 {
		t.Fatalf("agent --once: %d %s", code, errOut)
	}
	if n := delivered(); n != 1 {
		t.Fatalf("%d messages in ~/Maildir/new after release, want 1", n)
	}
	if sub, _ := h.state(id); sub != "" {
		t.Errorf("delivered message still queued in %s", sub)
	}
}

// postsuper's spellings, which the summary names, are taken: -h ID
// holds, -H ID releases, -d ID deletes (-h alone is still the help).
// They were refused as unknown actions.
func TestQueuePostsuperOptions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	h := newQueueHome(t, 2)
	a, b := h.ids[0], h.ids[1]
	if out, errOut, code := h.run("", "queue", "-h", a); code != 0 || out != "Placed on hold: 1 message\n" {
		t.Fatalf("-h: %d %q %q", code, out, errOut)
	}
	if out, errOut, code := h.run("", "queue", "-H", a); code != 0 || out != "Released from hold: 1 message\n" {
		t.Errorf("-H: %d %q %q", code, out, errOut)
	}
	if out, errOut, code := h.run("", "queue", "-d", b); code != 0 || out != "Deleted: 1 message\n" {
		t.Errorf("-d: %d %q %q", code, out, errOut)
	}
	if out, _, code := h.run("", "queue", "-h"); code != 0 || !strings.Contains(out, "usage:") {
		t.Errorf("-h alone: %d %q", code, out)
	}
}

// --help or -h after an action prints the usage and exits 0, as
// "homepost queue --help" does: it is no queue ID, and was looked up
// as one ("no such message in the queue", exit 66).
func TestQueueActionHelp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	h := newQueueHome(t, 1)
	for _, verb := range []string{"delete", "hold", "release", "-d", "-h", "-H"} {
		for _, help := range []string{"--help", "-h"} {
			out, errOut, code := h.run("", "queue", verb, help)
			if code != 0 || !strings.Contains(out, "usage: homepost queue") || errOut != "" {
				t.Errorf("queue %s %s: exit %d, stdout %q, stderr %q", verb, help, code, out, errOut)
			}
		}
	}
	if out, errOut, code := h.run("", "queue", "hold", h.ids[0], "--help"); code != 0 || !strings.Contains(out, "usage: homepost queue") {
		t.Errorf("queue hold ID --help: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if dir, held := h.state(h.ids[0]); dir == "" || held {
		t.Errorf("queue hold ID --help acted on ID: in %q, held %v", dir, held)
	}
}
