package clients

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"homepost/test/testenv"
)

// sudo mails a security report by running its mailer as root, detached
// (setsid, cwd /, output to /dev/null) with "sendmail -t" and exactly
// this environment: HOME=/ among it. The report must reach the store, not
// an outbox under /.local. (A real sudo cannot be pointed at a test
// config: it passes only these four variables. HOMEPOST_CONFIG is added
// here so that the test never touches the real user's mail.)
func TestSudoMailerInvocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	e.writeConfig(baseConfig(e.home) +
		"store = \"" + e.path("Maildir") + "/\"\n" +
		"state_dir = \"" + e.path(".local", "state", "homepost") + "\"\n" +
		"aliases = \"" + e.path(".config", "homepost", "aliases") + "\"\n")
	user := testenv.Login(t)
	rootOutbox := "/.local/state/homepost/outbox"
	_, existed := os.Stat(rootOutbox)

	msg := "To: root\nFrom: " + user + "\nAuto-Submitted: auto-generated\n" +
		"Subject: *** SECURITY information for testhost ***\n\n" +
		"testhost : Nov 26 21:00:00 : " + user + " : user NOT in sudoers ; TTY=pts/0 ; PWD=/home/" + user +
		" ; USER=root ; COMMAND=/usr/bin/true\n\n"
	c := exec.Command(bin("sendmail"), "-t")
	c.Args[0] = "sendmail"
	c.Env = []string{"HOME=/", "PATH=/usr/bin:/bin:/usr/sbin:/sbin", "LOGNAME=root", "USER=root",
		"HOMEPOST_CONFIG=" + e.path(".config", "homepost", "config.toml")}
	c.Dir = "/"
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	_, stderr := e.run(c, msg)
	if stderr != "" {
		t.Errorf("sendmail wrote to stderr (sudo sends it to /dev/null): %s", stderr)
	}
	e.deliver()

	msgs := e.maildir()
	if len(msgs) != 1 {
		t.Fatalf("want 1 message, got %d", len(msgs))
	}
	m := msgs[0]
	raw := m.rawHeader()
	if !strings.Contains(raw, "\nFrom: "+user+"\nAuto-Submitted: auto-generated\n") {
		t.Errorf("sudo's header is not kept byte for byte:\n%s", raw)
	}
	if m.header("Date") == "" || m.header("Message-ID") == "" {
		t.Errorf("Date or Message-ID not completed:\n%s", raw)
	}
	if !strings.Contains(string(m.body()), "user NOT in sudoers") {
		t.Errorf("body lost: %q", m.body())
	}
	if _, err := os.Stat(rootOutbox); err == nil && existed != nil {
		t.Errorf("HOME=/ put an outbox at %s", rootOutbox)
	}

	// Without paths in the config, HOME=/ must not make / the home: the
	// password database knows better. homepost check shows the outbox it
	// would use, and creates nothing.
	bare := e.writeFile("bare.toml", "system_aliases = \"\"\n")
	c = exec.Command(bin("homepost"), "check")
	c.Env = []string{"HOME=/", "PATH=/usr/bin:/bin:/usr/sbin:/sbin", "LOGNAME=root", "USER=root", "HOMEPOST_CONFIG=" + bare}
	c.Dir = "/"
	out, _ := c.CombinedOutput()
	if strings.Contains(string(out), "outbox: /.local/") || !strings.Contains(string(out), "outbox: ") {
		t.Errorf("with HOME=/ the outbox is not in the user's home:\n%s", out)
	}
}
