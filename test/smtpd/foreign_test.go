package smtpd_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// asUser prepares a command run as uid:gid, without supplementary
// groups, from /.
func asUser(uid, gid int, args ...string) *exec.Cmd {
	c := exec.Command("setpriv", append([]string{"--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), "--clear-groups", "--"}, args...)...)
	c.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
	c.Dir = "/"
	return c
}

// A second local user that pipelines a whole transaction and closes the
// socket at once (8 threads of 20) gets nothing queued: the closed
// client's socket, orphaned, is listed with uid 0 and used to be taken
// for root's when the agent's user is root. The log does not name uid
// 0 as the peer either.
func TestClosedForeignClientNotTrusted(t *testing.T) {
	uid, gid := otherUser(t)
	l := start(t)
	script := `
import socket, sys, threading
host, port = sys.argv[1].rsplit(':', 1)
def run():
    for i in range(20):
        try:
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root>\r\nDATA\r\nSubject: s\r\n\r\nno auth\r\n.\r\nQUIT\r\n")
            s.close()
        except OSError as e:
            print('error', e)
ts = [threading.Thread(target=run) for _ in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print('done')
`
	out, err := asUser(uid, gid, "/usr/bin/python3", "-c", script, l.Addr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "done") {
		t.Fatalf("python as uid %d: %v\n%s", uid, err, out)
	}
	time.Sleep(2 * time.Second)
	n := 0
	for _, sub := range []string{"new", "cur"} {
		n += len(testenv.Files(l.Outbox(sub)))
	}
	n += len(testenv.Files(l.Path("Maildir", "new")))
	if n != 0 {
		t.Errorf("%d of 160 messages of another user's clients that closed at once were queued", n)
	}
	log := l.agent.Stderr.(*testenv.LockedBuffer).String()
	if strings.Contains(log, "peer_uid=0 ") || strings.Contains(log, "peer_uid=0\n") {
		t.Errorf("the log names uid 0 as the peer of another user's client:\n%s", log)
	}
}

// Another user's program that holds the configured port (answering 220
// and 250 as any SMTP server): the agent still serves its Unix socket
// and logs the address it could not open, and homepost check fails that
// address, naming the user (and uid) that holds it, instead of calling
// it ok.
func TestPortHeldByAnotherProgram(t *testing.T) {
	uid, gid := otherUser(t)
	l := setup(t, "")
	fake := asUser(uid, gid, "/usr/bin/python3", "-c", `
import socket, sys
host, port = sys.argv[1].rsplit(':', 1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, int(port))); s.listen(8)
print('listening', flush=True)
while True:
    c, _ = s.accept()
    f = c.makefile('rb')
    c.sendall(b'220 fake ESMTP\r\n')
    for line in f:
        if line.upper().startswith(b'QUIT'):
            c.sendall(b'221 bye\r\n'); break
        c.sendall(b'250 ok\r\n')
    c.close()
`, l.Addr)
	var out testenv.LockedBuffer
	fake.Stdout, fake.Stderr = &out, &out
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Process.Kill(); fake.Wait() })
	l.WaitFor(func() bool { return strings.Contains(out.String(), "listening") }, "the other program's listener")
	agent := l.StartAgent()
	log := agent.Stderr.(*testenv.LockedBuffer)
	l.WaitFor(func() bool { return fileExists(l.Socket) }, "the Unix socket")
	d := dial(t, "unix", l.Socket)
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	if !strings.Contains(log.String(), "address already in use") || !strings.Contains(log.String(), "smtp=unix:"+l.Socket) {
		t.Errorf("the agent's log does not tell of the address it could not open, or of the socket it serves:\n%s", log.String())
	}
	stdout, _, code := l.Run(nil, "homepost", "check")
	want := "a program of user homepost-smtp-test (uid " + strconv.Itoa(uid) + ") holds " + l.Addr + ": mail sent there does not reach homepost"
	if !strings.Contains(stdout, want) || strings.Contains(stdout, "ok   smtp: tcp:") || code == 0 {
		t.Errorf("check (exit %d) does not fail the address held by another program (%q):\n%s", code, want, stdout)
	}
	if !strings.Contains(stdout, "ok   smtp: unix:"+l.Socket) {
		t.Errorf("check does not find the Unix socket served:\n%s", stdout)
	}
}

// A socket = path in a directory that others use (here the home
// directory, mode 0755) is refused, with the path, by the agent and by
// check; the directory is not changed. TCP is served all the same.
func TestSocketInSharedDirectoryRefused(t *testing.T) {
	l := setup(t, "")
	cfgFile := l.Path(".config", "homepost", "config.toml")
	b, _ := os.ReadFile(cfgFile)
	os.WriteFile(cfgFile, []byte(strings.Replace(string(b), "[smtp]\n", "[smtp]\nsocket = \"~/smtp.sock\"\n", 1)), 0o600)
	os.Chmod(l.Home, 0o755)
	agent := l.StartAgent()
	log := agent.Stderr.(*testenv.LockedBuffer)
	d := dial(t, "tcp", l.Addr)
	d.cmd("EHLO c", "250")
	if st, _ := os.Stat(l.Home); st.Mode().Perm() != 0o755 {
		t.Errorf("the home directory was changed to %v", st.Mode())
	}
	if fileExists(l.Path("smtp.sock")) {
		t.Error("a socket in the home directory")
	}
	if !strings.Contains(log.String(), l.Home+", the SMTP socket's directory, is mode 0755") {
		t.Errorf("the agent's log does not name the directory it refused:\n%s", log.String())
	}
	stdout, _, _ := l.Run(nil, "homepost", "check")
	if !strings.Contains(stdout, "FAIL smtp: "+l.Home+", the SMTP socket's directory, is mode 0755") {
		t.Errorf("check does not refuse the directory:\n%s", stdout)
	}
}

// A program of another user that holds the port and never greets: check
// gives up on it within its timeout (go-smtp's client would wait five
// minutes for the greeting) and fails the address by the listener's user
// and uid.
func TestPortHeldSilently(t *testing.T) {
	uid, gid := otherUser(t)
	l := setup(t, "")
	fake := asUser(uid, gid, "/usr/bin/python3", "-c", `
import socket, sys, time
host, port = sys.argv[1].rsplit(':', 1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, int(port))); s.listen(8)
print('listening', flush=True)
time.sleep(600)
`, l.Addr)
	var out testenv.LockedBuffer
	fake.Stdout, fake.Stderr = &out, &out
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Process.Kill(); fake.Wait() })
	l.WaitFor(func() bool { return strings.Contains(out.String(), "listening") }, "the other program's listener")
	start := time.Now()
	stdout, _, code := l.Run(nil, "homepost", "check")
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("check took %v", d)
	}
	want := "a program of user homepost-smtp-test (uid " + strconv.Itoa(uid) + ") holds " + l.Addr
	if !strings.Contains(stdout, want) || code == 0 {
		t.Errorf("check (exit %d) does not fail the address held by another program (%q):\n%s", code, want, stdout)
	}
}

// A second local user's client that logs in with AUTH LOGIN (the
// mechanism some clients know alone or pick first) and the user's
// secret may submit, as with PLAIN: swaks --auth LOGIN, and msmtp with
// auth login and TLS off. Without a login, the 530 says what to do.
func TestSecondUserAuthLogin(t *testing.T) {
	uid, gid := otherUser(t)
	l := start(t)
	secret, err := os.ReadFile(l.Path(".config", "homepost", "smtp-secret"))
	if err != nil {
		t.Fatal(err)
	}
	pass := strings.TrimSpace(string(secret))
	login := testenv.Login(t)
	host, port, _ := strings.Cut(l.Addr, ":")
	n := 0
	if _, err := exec.LookPath("swaks"); err != nil {
		t.Log("swaks is not installed: its part is skipped")
	} else {
		out, err := asUser(uid, gid, "/usr/bin/swaks", "--server", host, "--port", port, "--to", l.Rcpt, "--from", "x@example.org", "--timeout", "20").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "530 5.7.0 Authentication required: this listener takes mail from its user's own programs; others must AUTH with the user's secret") {
			t.Errorf("swaks without a login as the other user: %v\n%s", err, out)
		}
		out, err = asUser(uid, gid, "/usr/bin/swaks", "--server", host, "--port", port, "--to", l.Rcpt, "--from", "x@example.org", "--timeout", "20",
			"--auth", "LOGIN", "--auth-user", login, "--auth-password", "wrong-secret-wrong-secret").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "535 5.7.8") {
			t.Errorf("swaks with AUTH LOGIN and a wrong secret as the other user: %v\n%s", err, out)
		}
		out, err = asUser(uid, gid, "/usr/bin/swaks", "--server", host, "--port", port, "--to", l.Rcpt, "--from", "x@example.org", "--timeout", "20",
			"--auth", "LOGIN", "--auth-user", login, "--auth-password", pass, "--h-Subject", "swaks login").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "250 2.0.0 Ok: queued as") {
			t.Errorf("swaks with AUTH LOGIN as the other user: %v\n%s", err, out)
		}
		n++
		l.delivered(n)
	}
	if _, err := exec.LookPath("msmtp"); err != nil {
		t.Log("msmtp is not installed: its part is skipped")
	} else {
		// The secret is base64url: safe in the shell command that
		// --passwordeval runs.
		c := asUser(uid, gid, "/usr/bin/msmtp", "--host="+host, "--port="+port, "--tls=off", "--auth=login",
			"--user="+login, "--passwordeval=printf %s "+pass, "--from=app@example.org", "--timeout=20", l.Rcpt)
		c.Stdin = strings.NewReader("Subject: msmtp login\n\nhello\n")
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("msmtp --auth=login --tls=off as the other user: %v\n%s", err, out)
		}
		n++
		got := l.delivered(n)
		if !strings.Contains(strings.Join(got, "\n"), "msmtp login|<app@example.org>") {
			t.Errorf("delivered %q", got)
		}
	}
	if n == 0 {
		t.Skip("SKIP: neither swaks nor msmtp is installed")
	}
	log := l.agent.Stderr.(*testenv.LockedBuffer).String()
	if !strings.Contains(log, "mech=LOGIN username="+login) || strings.Contains(log, pass) || strings.Contains(log, "wrong-secret") {
		t.Errorf("the agent's log does not name the failed LOGIN, or holds a password:\n%s", log)
	}
}
