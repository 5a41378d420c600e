package tools

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// checkLines runs homepost check and returns its lines by item.
func (e *env) check(args ...string) (out string, code int) {
	e.t.Helper()
	out, errOut, code := e.run("", append([]string{"check"}, args...)...)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !(strings.HasPrefix(l, "ok   ") || strings.HasPrefix(l, "warn ") || strings.HasPrefix(l, "FAIL ")) {
			e.t.Errorf("line without a verdict: %q", l)
		}
	}
	return out + errOut, code
}

func hasLine(out, prefix string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func saneEnv(t *testing.T) *env {
	e := newEnv(t)
	e.writeConfig("system_aliases = \"\"\n")
	e.extra = []string{"PATH=/usr/bin:/bin"}
	write := func(p, s string, mode os.FileMode) {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	// The user's own login: a name that is neither a login nor an
	// alias is a warning of its own (every message to it bounces).
	me := testenv.Login(t)
	write(filepath.Join(e.home, ".config", "homepost", "aliases"), "postmaster: "+me+"\nabuse: postmaster\n", 0o600)
	write(filepath.Join(e.home, ".forward"), "\\"+me+", me@example.org\n", 0o600)
	for _, d := range []string{"Maildir/tmp", "Maildir/new", "Maildir/cur"} {
		os.MkdirAll(filepath.Join(e.home, d), 0o700)
	}
	return e
}

func TestCheckSane(t *testing.T) {
	e := saneEnv(t)
	out, code := e.check()
	if code != 0 || strings.Contains(out, "FAIL") {
		t.Fatalf("exit %d on a sane setup:\n%s", code, out)
	}
	for _, want := range []string{
		"ok   config: " + e.configPath() + " parsed",
		"ok   outbox: ",
		"ok   store: " + filepath.Join(e.home, "Maildir") + "/ writable",
		"ok   aliases: " + filepath.Join(e.home, ".config", "homepost", "aliases") + ": 2 entries",
		"ok   forward: " + filepath.Join(e.home, ".forward") + ": 2 target(s)",
		"warn agent: not running",
		"warn relay: no [relay] url",
		"ok   system aliases: turned off",
	} {
		if !hasLine(out, want) {
			t.Errorf("no line %q in:\n%s", want, out)
		}
	}
}

func TestCheckBadConfig(t *testing.T) {
	e := saneEnv(t)
	e.writeConfig("# comment\nstore = \"~/Maildir/\"\nother_users = \"nobody\"\n")
	out, code := e.check()
	if code != 78 {
		t.Errorf("exit %d, want 78", code)
	}
	if !hasLine(out, "FAIL config: "+e.configPath()+":3") {
		t.Errorf("no FAIL naming config.toml:3:\n%s", out)
	}
}

func TestCheckUnwritableStore(t *testing.T) {
	e := saneEnv(t)
	// A store under a regular file cannot be created, even by root.
	if err := os.WriteFile(filepath.Join(e.home, "blocker"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.writeConfig("deliver_without_agent = false\nsystem_aliases = \"\"\nstore = \"~/blocker/Maildir/\"\n")
	out, code := e.check()
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !hasLine(out, "FAIL store: "+filepath.Join(e.home, "blocker", "Maildir")) {
		t.Errorf("no FAIL for the store:\n%s", out)
	}
	if os.Getuid() != 0 {
		// Unprivileged: a read-only outbox fails as well.
		e := saneEnv(t)
		ob := filepath.Join(e.state, "homepost", "outbox")
		os.MkdirAll(filepath.Join(ob, "tmp"), 0o700)
		os.Chmod(filepath.Join(ob, "tmp"), 0o500)
		defer os.Chmod(filepath.Join(ob, "tmp"), 0o700)
		if out, code := e.check(); code != 1 || !hasLine(out, "FAIL outbox: ") {
			t.Errorf("read-only outbox: exit %d:\n%s", code, out)
		}
	}
}

func TestCheckUnsafeForward(t *testing.T) {
	e := saneEnv(t)
	fw := filepath.Join(e.home, ".forward")
	if err := os.Chmod(fw, 0o666); err != nil {
		t.Fatal(err)
	}
	out, code := e.check()
	if code != 1 || !hasLine(out, "FAIL forward: "+fw) {
		t.Errorf("world-writable .forward: exit %d:\n%s", code, out)
	}
}

func TestCheckBrokenAliases(t *testing.T) {
	e := saneEnv(t)
	al := filepath.Join(e.home, ".config", "homepost", "aliases")
	if err := os.WriteFile(al, []byte("root: me\nthis line has no colon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := e.check()
	if code != 1 || !hasLine(out, "FAIL aliases: "+al+":2") {
		t.Errorf("broken aliases: exit %d:\n%s", code, out)
	}
}

func TestCheckPath(t *testing.T) {
	e := saneEnv(t)
	dir := t.TempDir()
	os.Symlink(bin, filepath.Join(dir, "sendmail"))
	os.WriteFile(filepath.Join(dir, "mail"), []byte("#!/bin/sh\n"), 0o755)
	e.extra = []string{"PATH=" + dir + ":/usr/bin:/bin"}
	out, _ := e.check()
	if !hasLine(out, "ok   PATH: sendmail is "+filepath.Join(dir, "sendmail")) {
		t.Errorf("our sendmail link not recognised:\n%s", out)
	}
	if !hasLine(out, "warn PATH: mail first on PATH is "+filepath.Join(dir, "mail")+", not homepost") {
		t.Errorf("another mail not reported:\n%s", out)
	}
}

// make install puts the small sendmail program (cmd/sendmail), not a
// link to homepost, first on PATH, and install-system links
// /usr/sbin/sendmail to it: check knows it for homepost's, as a copy
// and through a link, wherever it is.
func TestCheckPathKnowsSmallSendmail(t *testing.T) {
	small := filepath.Join(filepath.Dir(bin), "sendmail")
	data, err := os.ReadFile(small)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		place func(dst string) error
	}{
		{"installed copy", func(dst string) error { return os.WriteFile(dst, data, 0o755) }},
		{"link to it", func(dst string) error { return os.Symlink(small, dst) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := saneEnv(t)
			dir := t.TempDir()
			if err := tc.place(filepath.Join(dir, "sendmail")); err != nil {
				t.Fatal(err)
			}
			e.extra = []string{"PATH=" + dir + ":/usr/bin:/bin"}
			out, _ := e.check()
			if !hasLine(out, "ok   PATH: sendmail is "+filepath.Join(dir, "sendmail")+" (homepost)") {
				t.Errorf("homepost's sendmail program not recognised:\n%s", out)
			}
		})
	}
}

func TestCheckAgentRunning(t *testing.T) {
	e := saneEnv(t)
	cmd := exec.Command(bin, "agent")
	cmd.Env = e.environ()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := e.check()
		if hasLine(out, "ok   agent: running (pid ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("running agent not seen:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fakeSMTP answers a greeting, EHLO and QUIT on loopback.
func fakeSMTP(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.Write([]byte("220 fake ESMTP\r\n"))
				br := bufio.NewReader(c)
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					switch strings.ToUpper(strings.Fields(l + " x")[0]) {
					case "EHLO", "HELO":
						c.Write([]byte("250-fake\r\n250 8BITMIME\r\n"))
					case "QUIT":
						c.Write([]byte("221 bye\r\n"))
						return
					case "RSET", "NOOP":
						c.Write([]byte("250 ok\r\n"))
					default:
						c.Write([]byte("502 no\r\n"))
					}
				}
			}(c)
		}
	}()
	return ln.Addr().String()
}

func TestCheckRelay(t *testing.T) {
	e := saneEnv(t)
	addr := fakeSMTP(t)
	e.writeConfig("system_aliases = \"\"\n[relay]\nurl = \"smtp://" + addr + "\"\nconnect_timeout = \"5s\"\ncommand_timeout = \"5s\"\n")
	out, code := e.check("--relay")
	if code != 0 || !hasLine(out, "ok   relay: smtp://"+addr+" reachable") {
		t.Errorf("reachable relay: exit %d:\n%s", code, out)
	}
	// Without --relay nothing connects.
	if out, _ := e.check(); !hasLine(out, "ok   relay: smtp://"+addr+" (homepost check --relay connects)") {
		t.Errorf("relay line without --relay:\n%s", out)
	}
	// A port where nothing listens.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	e.writeConfig("system_aliases = \"\"\n[relay]\nurl = \"smtp://" + dead + "\"\nconnect_timeout = \"5s\"\ncommand_timeout = \"5s\"\n")
	out, code = e.check("--relay")
	if code != 1 || !hasLine(out, "FAIL relay: smtp://"+dead) {
		t.Errorf("dead relay: exit %d:\n%s", code, out)
	}
}

func TestCheckRelayConfigError(t *testing.T) {
	e := saneEnv(t)
	e.writeConfig("system_aliases = \"\"\n[relay]\nurl = \"gopher://example.org\"\n")
	out, code := e.check()
	// The url is checked when the file is read: a config error, with
	// its line.
	if code != 78 || !hasLine(out, "FAIL config: "+e.configPath()+":3: relay.url: unknown scheme \"gopher\"") {
		t.Errorf("bad relay url: exit %d:\n%s", code, out)
	}
}
