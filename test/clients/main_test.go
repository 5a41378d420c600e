// Package clients tests homepost with the real programs people point at
// sendmail or use to read their mail: git send-email, PHP's mail(), s-nail,
// mutt, cron's mailer invocation and mail(1). Each test runs the binary
// (built once, by testenv) and the client as a new user would under a
// temporary HOME, delivers with
// "homepost agent --once" and reads the result with an independent reader
// (Python's mailbox module, s-nail or mutt). A test whose client is not
// installed is skipped with a message that starts with "SKIP:".
package clients

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// binDir holds the homepost binary and its sendmail, mail and mailq links.
var binDir string

func TestMain(m *testing.M) {
	dir, err := testenv.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	os.Exit(m.Run())
}

// need skips the test unless every program is installed.
func need(t *testing.T, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("SKIP: %s not installed", p)
		}
	}
}

// env is one user's world: a temporary HOME with its own config, outbox
// and store.
type env struct {
	t    *testing.T
	home string
}

// baseConfig is the config of every test. The store and the forward file
// are absolute paths inside the temporary HOME: some clients run the MTA
// with another HOME (s-nail always uses root's passwd entry for root), and
// no test may ever touch the real user's mail.
func baseConfig(home string) string {
	return "deliver_without_agent = false\n" +
		"hostname = \"testhost.example\"\n" +
		"system_aliases = \"\"\n" +
		fmt.Sprintf("forward = %q\n", filepath.Join(home, ".forward"))
}

// newEnv makes a temporary HOME whose config is baseConfig, the store
// (~/Maildir/ unless extra sets store) and extra.
func newEnv(t *testing.T, extra string) *env {
	t.Helper()
	e := &env{t: t, home: t.TempDir()}
	cfg := baseConfig(e.home)
	if !strings.Contains(extra, "store") {
		cfg += fmt.Sprintf("store = %q\n", e.path("Maildir")+"/")
	}
	e.writeConfig(cfg + extra)
	return e
}

func (e *env) path(p ...string) string { return filepath.Join(append([]string{e.home}, p...)...) }

func (e *env) writeConfig(s string) {
	e.t.Helper()
	e.writeFile(".config/homepost/config.toml", s)
}

// writeFile writes a file under HOME, mode 0600, making its directories.
func (e *env) writeFile(rel, s string) string {
	e.t.Helper()
	p := e.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// bin is the path of one of homepost's names.
func bin(name string) string { return filepath.Join(binDir, name) }

// environ is the environment of every client: the temporary HOME, the XDG
// directories inside it, homepost's links first on PATH.
func (e *env) environ() []string {
	return []string{
		"HOME=" + e.home,
		"XDG_CONFIG_HOME=" + e.path(".config"),
		"XDG_STATE_HOME=" + e.path(".local", "state"),
		"PATH=" + binDir + ":/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8",
		"TZ=UTC",
		"USER=" + testenv.Login(e.t), "LOGNAME=" + testenv.Login(e.t),
	}
}

// command prepares a client (or one of homepost's names) in HOME.
func (e *env) command(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = e.environ()
	c.Dir = e.home
	return c
}

// run runs c with stdin and fails the test unless it exits 0.
func (e *env) run(c *exec.Cmd, stdin string) (stdout, stderr string) {
	e.t.Helper()
	stdout, stderr, err := e.try(c, stdin)
	if err != nil {
		e.t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(c.Args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

// try runs c with stdin, with a time limit, and returns its output and
// error.
func (e *env) try(c *exec.Cmd, stdin string) (stdout, stderr string, err error) {
	e.t.Helper()
	c.Stdin = strings.NewReader(stdin)
	var o, er bytes.Buffer
	c.Stdout, c.Stderr = &o, &er
	if err := c.Start(); err != nil {
		e.t.Fatalf("start %s: %v", c.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		c.Process.Kill()
		<-done
		err = fmt.Errorf("killed after 30s")
	}
	return o.String(), er.String(), err
}

// deliver runs "homepost agent --once" and returns its log; the outbox
// must then be empty.
func (e *env) deliver() string {
	e.t.Helper()
	_, log := e.run(e.command(bin("homepost"), "agent", "--once"), "")
	for _, sub := range []string{"new", "cur"} {
		if left := testenv.Files(e.path(".local", "state", "homepost", "outbox", sub)); len(left) != 0 {
			q, _, _ := e.try(e.command(bin("mailq")), "")
			e.t.Fatalf("outbox/%s still holds %v after delivery\nagent log:\n%s\nmailq:\n%s", sub, left, log, q)
		}
	}
	return log
}

// stored is one message as Python's mailbox module reads it.
type stored struct {
	Key      string      `json:"key"`
	Raw      []byte      `json:"raw"`       // the message bytes (mbox: without the From_ line)
	FromLine string      `json:"from_line"` // mbox: the From_ line's text after "From "
	Headers  [][2]string `json:"headers"`   // decoded by email.policy.default
	Defects  []string    `json:"defects"`
	Subdir   string      `json:"subdir"` // Maildir: "new" or "cur"
	Flags    string      `json:"flags"`  // Maildir: the info flags ("S" seen); mbox: Status/X-Status
}

// header returns the first decoded value of a header field, or "".
func (s stored) header(name string) string {
	for _, h := range s.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// rawHeader returns the raw header block (up to the blank line).
func (s stored) rawHeader() string {
	h, _, _ := bytes.Cut(s.Raw, []byte("\n\n"))
	return string(h) + "\n"
}

// body returns the bytes after the header block.
func (s stored) body() []byte {
	_, b, _ := bytes.Cut(s.Raw, []byte("\n\n"))
	return b
}

const readBox = `
import base64, email, email.policy, json, mailbox, sys
kind, path = sys.argv[1], sys.argv[2]
if kind == "maildir":
    box = mailbox.Maildir(path, factory=None, create=False)
else:
    box = mailbox.mbox(path, create=False)
out = []
for key in box.keys():
    raw = box.get_bytes(key)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out.append({
        "key": str(key),
        "raw": base64.b64encode(raw).decode(),
        "from_line": box.get_message(key).get_from() if kind == "mbox" else "",
        "headers": [[k, str(v)] for k, v in msg.items()],
        "defects": [repr(d) for d in msg.defects],
        "subdir": box.get_message(key).get_subdir() if kind == "maildir" else "",
        "flags": box.get_message(key).get_flags(),
    })
print(json.dumps(out))
`

// readStore reads a Maildir ("maildir") or an mbox ("mbox") with Python's
// mailbox module; the test is skipped when python3 is missing.
func (e *env) readStore(kind, path string) []stored {
	e.t.Helper()
	need(e.t, "python3")
	c := exec.Command("python3", "-c", readBox, kind, path)
	out, err := c.Output()
	if err != nil {
		var stderr []byte
		if xe, ok := err.(*exec.ExitError); ok {
			stderr = xe.Stderr
		}
		e.t.Fatalf("python3 mailbox %s %s: %v\n%s", kind, path, err, stderr)
	}
	var msgs []stored
	if err := json.Unmarshal(out, &msgs); err != nil {
		e.t.Fatalf("python3 output: %v\n%s", err, out)
	}
	for _, m := range msgs {
		if len(m.Defects) != 0 {
			e.t.Errorf("message %s: Python's email parser finds defects %v:\n%s", m.Key, m.Defects, m.Raw)
		}
	}
	return msgs
}

// maildir reads ~/Maildir.
func (e *env) maildir() []stored { e.t.Helper(); return e.readStore("maildir", e.path("Maildir")) }

// bySubject returns the only message whose decoded Subject is subj.
func bySubject(t *testing.T, msgs []stored, subj string) stored {
	t.Helper()
	var found []stored
	for _, m := range msgs {
		if m.header("Subject") == subj {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		var subjects []string
		for _, m := range msgs {
			subjects = append(subjects, fmt.Sprintf("%q", m.header("Subject")))
		}
		t.Fatalf("want one message with Subject %q, found %d among %d: %s", subj, len(found), len(msgs), strings.Join(subjects, ", "))
	}
	return found[0]
}

// headerNames lists the field names of a raw header block in order.
func headerNames(raw string) []string {
	var out []string
	for _, l := range strings.Split(raw, "\n") {
		if l == "" || l[0] == ' ' || l[0] == '\t' {
			continue
		}
		if name, _, ok := strings.Cut(l, ":"); ok {
			out = append(out, name)
		}
	}
	return out
}

// screen drives a full-screen program inside a private tmux server.
type screen struct {
	t    *testing.T
	sock string
}

// startScreen runs the shell command line in a detached tmux session of
// 160x40 with the user's environment. The tmux server ends with the test.
func (e *env) startScreen(cmdline string) *screen {
	e.t.Helper()
	need(e.t, "tmux")
	dir, err := os.MkdirTemp("", "hp-tmux-")
	if err != nil {
		e.t.Fatal(err)
	}
	s := &screen{t: e.t, sock: filepath.Join(dir, "sock")}
	e.t.Cleanup(func() {
		exec.Command("tmux", "-S", s.sock, "kill-server").Run()
		os.RemoveAll(dir)
	})
	c := exec.Command("tmux", "-S", s.sock, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "40",
		cmdline+"; echo '[exited]'; sleep 30")
	c.Env = append(e.environ(), "TERM=xterm")
	c.Dir = e.home
	if out, err := c.CombinedOutput(); err != nil {
		e.t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return s
}

// capture returns what the screen shows.
func (s *screen) capture() string {
	out, err := exec.Command("tmux", "-S", s.sock, "capture-pane", "-p").Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// waitFor waits up to 10 s until the screen shows every string.
func (s *screen) waitFor(what ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.capture()
		ok := true
		for _, w := range what {
			if !strings.Contains(got, w) {
				ok = false
			}
		}
		if ok {
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the screen does not show %q:\n%s", what, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keys types keys (tmux send-keys names: "Enter", "q").
func (s *screen) keys(keys ...string) {
	s.t.Helper()
	args := append([]string{"-S", s.sock, "send-keys"}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		s.t.Fatalf("tmux send-keys: %v\n%s", err, out)
	}
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// startAgent runs "homepost agent" until the test ends.
func (e *env) startAgent() {
	e.t.Helper()
	c := e.command(bin("homepost"), "agent")
	var log testenv.LockedBuffer
	c.Stderr = &log
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
		if e.t.Failed() {
			e.t.Logf("agent log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(log.String(), "agent started") {
		if time.Now().After(deadline) {
			e.t.Fatalf("the agent did not start:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitUntil polls cond for up to 20 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sendmail queues a message with "sendmail -i ARGS" and fails the test
// unless it exits 0.
func (e *env) sendmail(msg string, args ...string) {
	e.t.Helper()
	e.run(e.command(bin("sendmail"), append([]string{"-i"}, args...)...), msg)
}
