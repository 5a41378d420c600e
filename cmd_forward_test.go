package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/agent"
	"homepost/config"
	"homepost/test/testenv"
)

// fwdHome is a temporary HOME for the binary, with a fixture standing in
// for /etc/aliases and a config naming it.
type fwdHome struct {
	t       *testing.T
	bin     string
	home    string
	config  string
	system  string
	login   string
	lastOut string
	// as runs the binary as another user, when set.
	as *syscall.Credential
}

func newFwdHome(t *testing.T, bin, extraConfig string) *fwdHome {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Skipf("SKIP: no current user: %v", err)
	}
	dir := t.TempDir()
	h := &fwdHome{t: t, bin: bin, home: filepath.Join(dir, "home"), login: u.Username}
	h.system = filepath.Join(dir, "etc-aliases")
	h.config = filepath.Join(dir, "config.toml")
	os.MkdirAll(filepath.Join(h.home, ".config", "homepost"), 0o755)
	h.write(h.config, fmt.Sprintf("system_aliases = %q\nhostname = \"box.example.org\"\nstate_dir = %q\n%s",
		h.system, filepath.Join(h.home, "state"), extraConfig), 0o600)
	return h
}

func (h *fwdHome) write(path, content string, mode os.FileMode) string {
	h.t.Helper()
	if !filepath.IsAbs(path) {
		path = filepath.Join(h.home, path)
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		h.t.Fatal(err)
	}
	return path
}

// run runs the binary as argv0 with args; it returns stdout, stderr and
// the exit status.
func (h *fwdHome) run(argv0 string, args ...string) (string, string, int) {
	h.t.Helper()
	cmd := exec.Command(h.bin, args...)
	cmd.Args[0] = argv0
	if argv0 != "homepost" {
		link := filepath.Join(filepath.Dir(h.config), argv0)
		os.Symlink(h.bin, link)
		cmd.Path = link
	}
	cmd.Env = []string{
		"HOME=" + h.home, "HOMEPOST_CONFIG=" + h.config, "PATH=/usr/bin:/bin",
		"XDG_CONFIG_HOME=" + filepath.Join(h.home, ".config"),
		"XDG_STATE_HOME=" + filepath.Join(h.home, ".local", "state"),
	}
	if h.as != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: h.as}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatal(err)
	}
	h.lastOut = out.String()
	return out.String(), errb.String(), code
}

// resolve returns the "delivers to:" lines of homepost resolve ADDR.
func (h *fwdHome) resolve(addr string) ([]string, string, int) {
	h.t.Helper()
	out, errs, code := h.run("homepost", "resolve", addr)
	if errs != "" {
		h.t.Errorf("resolve %s: stderr %q", addr, errs)
	}
	_, targets, ok := strings.Cut(out, "  delivers to:\n")
	if !ok {
		h.t.Fatalf("resolve %s: no targets in\n%s", addr, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(targets, "\n"), "\n") {
		lines = append(lines, strings.ReplaceAll(strings.TrimSpace(l), h.home, "~"))
	}
	return lines, strings.ReplaceAll(out, h.home, "~"), code
}

func (h *fwdHome) wantTargets(addr string, want ...string) string {
	h.t.Helper()
	got, out, _ := h.resolve(addr)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		h.t.Errorf("resolve %s:\n%s\nwant targets %q", addr, out, want)
	}
	return out
}

// buildForwardBinary returns the homepost binary, built once per test run.
func buildForwardBinary(t *testing.T) string {
	t.Helper()
	return testenv.Program(t, "homepost")
}

// TestForwardingCLI runs newaliases and resolve under a temporary HOME.
func TestForwardingCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildForwardBinary(t)
	store := "local store ~/Maildir/"

	t.Run("debian chain", func(t *testing.T) {
		h := newFwdHome(t, bin, "")
		h.write(h.system, fmt.Sprintf("# Debian\nmailer-daemon: postmaster\npostmaster: root\nnobody: root\nroot: %s\n", h.login), 0o644)
		// A quoted local part that needs no quotes is the plain name,
		// as sendmail queues it.
		for _, a := range []string{"mailer-daemon", "postmaster@localhost", "root", "nobody@box.example.org", h.login, `"root"@localhost`} {
			h.wantTargets(a, store)
		}
		out := h.wantTargets("mailer-daemon", store)
		for _, want := range []string{
			"mailer-daemon: " + h.system + ":2: postmaster",
			"postmaster: " + h.system + ":3: root",
			"root: " + h.system + ":5: " + h.login,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("resolve output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("forward kinds include ext", func(t *testing.T) {
		h := newFwdHome(t, bin, "")
		h.write(h.system, "postmaster: root\nroot: "+h.login+"\n", 0o644)
		inc := h.write("lists/friends", "carol@example.net\n# and\ndave@example.net\n", 0o644)
		h.write(".config/homepost/aliases", "friends: :include:"+inc+"\nme: \\"+h.login+"\n", 0o600)
		h.write(".forward", "\\"+h.login+", bob@example.com\n~/mail/inbox\n~/Maildir/.Archive/\n\"|/usr/bin/procmail -f-\"\n", 0o644)
		h.write(".forward+lists", "~/Maildir/.Lists/\n", 0o644)
		h.wantTargets("root", store, "remote bob@example.com (no relay configured: it would wait in the queue)",
			"mbox ~/mail/inbox", "Maildir ~/Maildir/.Archive/", "command /usr/bin/procmail -f- (run as "+h.login+")")
		h.wantTargets(h.login+"+lists@box.example.org", "Maildir ~/Maildir/.Lists/")
		h.wantTargets("friends", "remote carol@example.net (no relay configured: it would wait in the queue)",
			"remote dave@example.net (no relay configured: it would wait in the queue)")
		h.wantTargets("me", store)
	})

	t.Run("unsafe forward", func(t *testing.T) {
		h := newFwdHome(t, bin, "")
		h.write(".forward", "|/bin/rm -rf ~\n", 0o666)
		out := h.wantTargets(h.login, store)
		if !strings.Contains(out, "warning: ~/.forward ignored: world-writable (mode 0666); mail is kept in the local store") {
			t.Errorf("no warning:\n%s", out)
		}
	})

	t.Run("forward in a directory others may write", func(t *testing.T) {
		h := newFwdHome(t, bin, "")
		real := h.write("dotfiles/forward", "|/bin/rm -rf ~\n", 0o644)
		os.Chmod(filepath.Dir(real), 0o777)
		os.Symlink(real, filepath.Join(h.home, ".forward"))
		out := h.wantTargets(h.login, store)
		if !strings.Contains(out, "warning: ~/.forward ignored: ~/dotfiles, on the file's path, is world-writable (mode 0777): another user could replace the file, so it is not obeyed; ") {
			t.Errorf("no warning:\n%s", out)
		}
		// An :include: file is named with the aliases line that names it.
		inc := h.write(".config/homepost/aliases", "# lists\nteam: :include:"+real+"\n", 0o600)
		if _, errs, code := h.run("newaliases"); code != 78 || !strings.Contains(errs, "homepost: newaliases: "+inc+":2: :include:"+real+" ignored: "+filepath.Dir(real)+", on the file's path, is world-writable") {
			t.Errorf("newaliases: exit %d, stderr %q", code, errs)
		}
	})

	t.Run("system aliases command", func(t *testing.T) {
		h := newFwdHome(t, bin, "")
		h.write(h.system, "root: \"|/usr/bin/logger -t root\"\n", 0o644)
		out := h.wantTargets("root", store)
		if !strings.Contains(out, "command |/usr/bin/logger -t root not run as "+h.login+" (it comes from the system aliases)") {
			t.Errorf("no warning:\n%s", out)
		}
	})

	t.Run("loop and bounce exit", func(t *testing.T) {
		h := newFwdHome(t, bin, "other_users = \"bounce\"\n")
		// The system aliases that config.toml names exist: a missing
		// one defers the names no other file knows.
		h.write(h.system, "", 0o644)
		got, _, code := h.resolve("nosuchuser-zz")
		if code != 67 || len(got) != 1 || !strings.HasPrefix(got[0], "bounce: 5.1.1 nosuchuser-zz: user unknown") {
			t.Errorf("exit %d, targets %q", code, got)
		}
	})

	t.Run("newaliases", func(t *testing.T) {
		h := newFwdHome(t, bin, "")
		sys := "# sendmail counts names and right-hand sides\npostmaster: root\nroot: " + h.login + "\n"
		h.write(h.system, sys, 0o644)
		user := h.write(".config/homepost/aliases", "friends: carol@example.net,\n  dave@example.net\n", 0o600)
		out, errs, code := h.run("newaliases")
		want := fmt.Sprintf("%s: 1 aliases, longest 35 bytes, 42 bytes total\n%s: 2 aliases, longest %d bytes, %d bytes total\n",
			user, h.system, len(h.login), len("postmaster")+len("root")+len("root")+len(h.login))
		if code != 0 || out != want || errs != "" {
			t.Errorf("exit %d\nstdout %q\nwant   %q\nstderr %q", code, out, want, errs)
		}
		// Same through homepost newaliases.
		if out2, _, code := h.run("homepost", "newaliases"); code != 0 || out2 != want {
			t.Errorf("homepost newaliases: exit %d %q", code, out2)
		}
	})

	t.Run("newaliases errors", func(t *testing.T) {
		h := newFwdHome(t, bin, "")
		h.write(h.system, "root: alice\nbroken line\nx: \"unterminated\n", 0o644)
		user := h.write(".config/homepost/aliases", "a: b c\n", 0o600)
		out, errs, code := h.run("newaliases")
		if code != 78 {
			t.Errorf("exit %d, want 78", code)
		}
		for _, want := range []string{
			"homepost: newaliases: " + user + ":1: \"b c\" contains blank space",
			// The system file's lines are warnings: the user cannot change them.
			"homepost: newaliases: " + h.system + ":2: warning: missing ':'",
			"homepost: newaliases: " + h.system + ":3: warning: unterminated quote",
		} {
			if !strings.Contains(errs, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errs)
			}
		}
		_ = out
		// An unsafe aliases file is an error too.
		os.WriteFile(h.system, []byte("root: alice\n"), 0o644)
		os.WriteFile(user, []byte("a: b\n"), 0o600)
		os.Chmod(user, 0o620)
		if _, errs, code := h.run("newaliases"); code != 78 || !strings.Contains(errs, user+": ignored: group-writable (mode 0620)") {
			t.Errorf("group-writable: exit %d, stderr %q", code, errs)
		}
	})

	t.Run("newaliases reloads the agent", func(t *testing.T) {
		h := newFwdHome(t, bin, "")
		h.write(h.system, "root: alice\n", 0o644)
		cfg, err := config.LoadFile(h.config, config.NewIdentity(h.login, h.home, "", os.Getuid()))
		if err != nil {
			t.Fatal(err)
		}
		// This test process stands in for the agent: it holds the lock,
		// so its pid is the one newaliases signals.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		lock, err := agent.TryLock(cfg, false)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Unlock()
		if _, errs, code := h.run("newaliases"); code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		select {
		case <-hup:
		case <-time.After(5 * time.Second):
			t.Error("no SIGHUP reached the agent")
		}
	})

	t.Run("usage", func(t *testing.T) {
		h := newFwdHome(t, bin, "")
		if _, _, code := h.run("homepost", "resolve"); code != 64 {
			t.Errorf("resolve without address: exit %d", code)
		}
		if _, _, code := h.run("newaliases", "-x"); code != 64 {
			t.Errorf("newaliases -x: exit %d", code)
		}
		if out, _, code := h.run("newaliases", "--help"); code != 0 || !strings.Contains(out, "usage: newaliases") {
			t.Errorf("--help: exit %d %q", code, out)
		}
	})
}
