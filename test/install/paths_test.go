package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// movedState is a configuration that moves the state directory in a
// valid TOML layout that no line-by-line reading of config.toml gets
// right: a quoted key, and a path with an apostrophe and an escaped
// character in a basic string.
func movedState(home string) (body, state string) {
	state = filepath.Join(home, "Bob's state", "home\tpost")
	return "system_aliases = \"\"\n\"state_dir\" = \"" + strings.ReplaceAll(state, "\t", `\t`) + "\" # moved\n", state
}

// homepost check --paths prints where the configuration puts things,
// one NAME=PATH a line, as homepost itself reads the file; with a file
// that has an error, the places the queue still uses, and exit 78.
func TestCheckPaths(t *testing.T) {
	bin := filepath.Join(testenv.Binary(t), "homepost")
	home := t.TempDir()
	run := func(cfg string, extra ...string) (map[string]string, string, int) {
		t.Helper()
		c := exec.Command(bin, "check", "--paths")
		c.Env = append(userEnv(home, "PATH=/usr/bin:/bin"), extra...)
		c.Dir = "/"
		var out, errb strings.Builder
		c.Stdout, c.Stderr = &out, &errb
		err := c.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				got[k] = v
			} else if l != "" {
				t.Errorf("line that is not NAME=PATH: %q", l)
			}
		}
		return got, errb.String(), code
	}
	cfgDir := filepath.Join(home, ".config", "homepost")
	os.MkdirAll(cfgDir, 0o700)
	cfg := filepath.Join(cfgDir, "config.toml")

	// No file: the defaults.
	got, stderr, code := run(cfg)
	def := filepath.Join(home, ".local", "state", "homepost")
	if code != 0 || got["config"] != cfg || got["state_dir"] != def || got["outbox"] != filepath.Join(def, "outbox") ||
		got["lock"] != filepath.Join(def, "agent.lock") || got["store"] == "" {
		t.Errorf("no file: exit %d %v %s", code, got, stderr)
	}

	body, state := movedState(home)
	os.WriteFile(cfg, []byte(body), 0o600)
	got, stderr, code = run(cfg)
	if code != 0 || got["state_dir"] != state || got["lock"] != filepath.Join(state, "agent.lock") || got["outbox"] != filepath.Join(state, "outbox") {
		t.Errorf("moved state_dir: exit %d %v %s", code, got, stderr)
	}

	// The file HOMEPOST_CONFIG names, with its outbox elsewhere.
	other := filepath.Join(home, "other.toml")
	os.WriteFile(other, []byte("outbox = \"~/q\"\n"), 0o600)
	got, stderr, code = run(other, "HOMEPOST_CONFIG="+other)
	if code != 0 || got["config"] != other || got["outbox"] != filepath.Join(home, "q") || got["state_dir"] != def {
		t.Errorf("HOMEPOST_CONFIG: exit %d %v %s", code, got, stderr)
	}

	// An error elsewhere in the file: the places the queue still uses
	// (config.LoadQueue), the error on stderr, exit 78.
	os.WriteFile(cfg, []byte("state_dir = \"~/st\"\nno_such_key = 1\n"), 0o600)
	got, stderr, code = run(cfg)
	if code != 78 || got["state_dir"] != filepath.Join(home, "st") || !strings.Contains(stderr, "no_such_key") {
		t.Errorf("broken file: exit %d %v %s", code, got, stderr)
	}
	// Not even the state directory can be told: nothing on stdout.
	os.WriteFile(cfg, []byte("state_dir = 5\n"), 0o600)
	got, stderr, code = run(cfg)
	if code != 78 || len(got) != 0 || !strings.Contains(stderr, "state_dir") {
		t.Errorf("state_dir unknown: exit %d %v %s", code, got, stderr)
	}
}

// make install and make uninstall find the agent's lock and the outbox
// as homepost does, whatever the layout of config.toml: a background
// delivery under a moved state directory is ended and started again,
// and uninstall names the outbox where mail waits.
func TestInstallFindsMovedStateDir(t *testing.T) {
	needMake(t)
	h := newHome(t, "home")
	out := h.make(t, "install")
	if !strings.Contains(out, "no systemd user session") {
		t.Skip("SKIP: a systemd user session runs for this HOME; the unit is restarted instead")
	}
	body, state := movedState(h.home)
	h.config(t, body)
	lock := filepath.Join(state, "agent.lock")
	t.Cleanup(func() { stopAgent(lock) })
	sm := exec.Command(filepath.Join(h.bindir, "sendmail"), "-t", "-i")
	sm.Env = userEnv(h.home, "PATH="+h.bindir+":/usr/bin:/bin")
	sm.Dir = "/"
	sm.Stdin = strings.NewReader("To: someone@example.org\nSubject: deferred\n\nhello\n")
	if out, err := sm.CombinedOutput(); err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
	old := awaitBackground(lock, 0)
	if old == 0 {
		t.Fatal("sendmail started no background delivery")
	}

	out = h.make(t, "install")
	if cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(old) + "/cmdline"); len(cmd) > 0 {
		t.Errorf("make install left the old background delivery (pid %d, lock %s) running:\n%s", old, lock, out)
	}
	now := awaitBackground(lock, old)
	if now == 0 {
		t.Fatalf("make install did not start the new background delivery for the mail waiting under %s:\n%s", state, out)
	}

	out = h.make(t, "uninstall")
	time.Sleep(100 * time.Millisecond)
	if cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(now) + "/cmdline"); len(cmd) > 0 {
		t.Errorf("make uninstall left the background delivery (pid %d) running:\n%s", now, out)
	}
	if outbox := filepath.Join(state, "outbox"); !strings.Contains(out, outbox) || !strings.Contains(out, "1 message") {
		t.Errorf("make uninstall does not say that 1 message waits in %s:\n%s", outbox, out)
	}
}

// A configuration with an error: install says so, names the file and
// its error, and leaves the background delivery of the old homepost
// running (it delivers with what it read before; the new one would
// only hold the queue). When not even the state directory can be read
// from the file, install says that it cannot tell where the lock is,
// rather than guess. Uninstall ends the delivery under the state
// directory that the broken file still names, and says where mail
// waits.
func TestInstallBrokenConfig(t *testing.T) {
	needMake(t)
	h := newHome(t, "home")
	out := h.make(t, "install")
	if !strings.Contains(out, "no systemd user session") {
		t.Skip("SKIP: a systemd user session runs for this HOME; the unit is restarted instead")
	}
	state := filepath.Join(h.home, "st")
	lock := filepath.Join(state, "agent.lock")
	t.Cleanup(func() { stopAgent(lock) })
	h.config(t, "system_aliases = \"\"\nstate_dir = \"~/st\"\n")
	sm := exec.Command(filepath.Join(h.bindir, "sendmail"), "-t", "-i")
	sm.Env = userEnv(h.home, "PATH="+h.bindir+":/usr/bin:/bin")
	sm.Dir = "/"
	sm.Stdin = strings.NewReader("To: someone@example.org\nSubject: deferred\n\nhello\n")
	if out, err := sm.CombinedOutput(); err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
	old := awaitBackground(lock, 0)
	if old == 0 {
		t.Fatal("sendmail started no background delivery")
	}
	running := func() bool {
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(old) + "/cmdline")
		return len(cmd) > 0
	}
	cfg := filepath.Join(h.home, ".config", "homepost", "config.toml")

	// The state directory cannot be read from the file.
	h.config(t, "system_aliases = \"\"\nstate_dir = 5\n")
	out = h.make(t, "install")
	if !strings.Contains(out, "cannot tell") || !strings.Contains(out, cfg+":2") || !strings.Contains(out, "state_dir") {
		t.Errorf("make install does not say that it cannot tell where the state directory is:\n%s", out)
	}
	if !running() {
		t.Errorf("make install ended a background delivery (pid %d) that it could not tell was this configuration's:\n%s", old, out)
	}

	// An error elsewhere (a key of a newer homepost, say).
	h.config(t, "system_aliases = \"\"\nstate_dir = \"~/st\"\nno_such_key = 1\n")
	out = h.make(t, "install")
	if !strings.Contains(out, cfg) || !strings.Contains(out, "no_such_key") || !strings.Contains(out, "left the background delivery of the old homepost (pid "+strconv.Itoa(old)+") running") {
		t.Errorf("make install does not say that %s has an error, and what it left:\n%s", cfg, out)
	}
	if !running() {
		t.Errorf("make install ended the background delivery (pid %d), which a new one cannot replace until the file is fixed:\n%s", old, out)
	}

	out = h.make(t, "uninstall")
	time.Sleep(100 * time.Millisecond)
	if running() {
		t.Errorf("make uninstall left the background delivery (pid %d) running:\n%s", old, out)
	}
	if outbox := filepath.Join(state, "outbox"); !strings.Contains(out, "no_such_key") || !strings.Contains(out, outbox) || !strings.Contains(out, "1 message") {
		t.Errorf("make uninstall does not name the error and say that 1 message waits in %s:\n%s", outbox, out)
	}
}

// A build from a source tree without git's history (git archive: a
// release tarball, a downloaded ZIP) is stamped with its commit, not
// "dev": mk/version.sh reads the commit that git archive wrote into
// mk/version.
func TestArchiveVersion(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("SKIP: git is not installed")
	}
	root := repoRoot()
	head, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		t.Skip("SKIP: not a git clone:", err)
	}
	dir := t.TempDir()
	arch := exec.Command("sh", "-c", `git -C "$1" archive HEAD mk | tar -x -C "$2"`, "sh", root, dir)
	if out, err := arch.CombinedOutput(); err != nil {
		t.Fatalf("git archive: %v %s", err, out)
	}
	cmd := exec.Command("sh", filepath.Join(dir, "mk", "version.sh"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
	out, err := cmd.Output()
	if got, want := strings.TrimSpace(string(out)), strings.TrimSpace(string(head)); err != nil || got != want {
		t.Errorf("version of an archived tree: %q %v, want the commit %s", got, err, want)
	}
}
