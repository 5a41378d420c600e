// Package smtpd_test drives the agent's SMTP listener from the outside,
// with the clients that programs really use: Python's smtplib, swaks, a
// PHPMailer session, a second local user, kill -9 and systemd's socket
// activation.
package smtpd_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
)

// listener is a user's world with the agent listening.
type listener struct {
	*testenv.Env
	Socket string // the Unix socket
	Addr   string // 127.0.0.1:PORT
	Rcpt   string // the user's address
	agent  *exec.Cmd
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// setup makes a HOME whose config listens on a free loopback port, with
// a runtime directory of its own.
func setup(t *testing.T, extra string) *listener {
	t.Helper()
	port := freePort(t)
	e := testenv.New(t, extra+fmt.Sprintf("[smtp]\nlisten = [\"127.0.0.1:%d\"]\n", port))
	rt, err := os.MkdirTemp("", "hp-rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rt) })
	e.Vars = append(e.Vars, "XDG_RUNTIME_DIR="+rt)
	return &listener{Env: e, Socket: filepath.Join(rt, "homepost", "smtp"),
		Addr: fmt.Sprintf("127.0.0.1:%d", port), Rcpt: testenv.Login(t) + "@testhost.example"}
}

// start sets up and starts the agent, and waits until both addresses
// answer.
func start(t *testing.T) *listener {
	t.Helper()
	l := setup(t, "")
	l.agent = l.StartAgent()
	l.waitListening()
	return l
}

func (l *listener) waitListening() {
	l.T.Helper()
	l.WaitFor(func() bool {
		for _, a := range [][2]string{{"unix", l.Socket}, {"tcp", l.Addr}} {
			c, err := net.Dial(a[0], a[1])
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	}, "the listener")
}

// delivered waits for n messages in ~/Maildir/new and returns them
// through Python's mailbox module as "Subject|Return-Path|Bcc|body"
// lines, the body as a Python bytes literal.
func (l *listener) delivered(n int) []string {
	l.T.Helper()
	l.WaitFor(func() bool { return len(testenv.Files(l.Path("Maildir", "new"))) >= n }, fmt.Sprintf("%d messages in ~/Maildir/new", n))
	time.Sleep(100 * time.Millisecond)
	if got := len(testenv.Files(l.Path("Maildir", "new"))); got != n {
		l.T.Fatalf("%d messages delivered, want %d", got, n)
	}
	out := testenv.Python(l.T, `
import mailbox, sys
md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
rows = []
for key in md.keys():
    m = md[key]
    body = md.get_bytes(key).split(b'\n\n', 1)[1]
    rows.append('%s|%s|%s|%r' % (m['Subject'], m['Return-Path'], m['Bcc'], body))
for r in sorted(rows):
    print(r)
`, l.Path("Maildir"))
	return strings.Split(strings.TrimSpace(out), "\n")
}

// Python's smtplib, the client of Django and most scripts, over TCP and
// over the Unix socket, one command at a time; and a raw client that
// pipelines its commands (DATA and BDAT) as PIPELINING allows.
func TestPythonSmtplib(t *testing.T) {
	l := start(t)
	out := testenv.Python(t, `
import smtplib, socket, sys
addr, path, rcpt = sys.argv[1], sys.argv[2], sys.argv[3]
host, port = addr.rsplit(':', 1)
msg = ('From: Script <script@example.org>\r\nTo: %s\r\nBcc: hidden@example.org\r\nSubject: smtplib tcp\r\n\r\ncaf\xc3\xa9\r\n.dot\r\n' % rcpt).encode('latin-1')
with smtplib.SMTP(host, int(port), timeout=20) as s:
    s.ehlo()
    print('ext', ' '.join(sorted(k for k in s.esmtp_features)))
    s.sendmail('script@example.org', [rcpt], msg.decode('latin-1').encode('latin-1'), mail_options=['BODY=8BITMIME'])
    s.noop()

# The Unix socket: smtplib on an already connected socket.
s = smtplib.SMTP(timeout=20)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(path)
s.sock = sock
code, _ = s.getreply()
assert code == 220, code
s.ehlo('localhost')
s.sendmail('', [rcpt], b'Subject: smtplib unix\r\n\r\nnull sender\r\n')
s.quit()

# Pipelined: every command of a transaction in one write.
def pipelined(cmds, replies):
    c = socket.create_connection((host, int(port)), timeout=20)
    f = c.makefile('rb')
    def reply():
        lines = []
        while True:
            line = f.readline().decode()
            lines.append(line.strip())
            if line[3:4] != '-':
                return lines[-1]
    reply()
    c.sendall(b'EHLO pipeline.example\r\n')
    reply()
    c.sendall(cmds)
    got = [reply() for _ in range(replies)]
    c.sendall(b'QUIT\r\n')
    got.append(reply())
    c.close()
    return got
body = b'Subject: pipelined data\r\n\r\nline\r\n..stuffed\r\n'
c = socket.create_connection((host, int(port)), timeout=20)
f = c.makefile('rb')
f.readline()
c.sendall(b'EHLO p\r\nMAIL FROM:<p@example.org>\r\nRCPT TO:<' + rcpt.encode() + b'>\r\nDATA\r\n')
got = []
while len(got) < 4:
    line = f.readline().decode()
    if line[3:4] != '-':
        got.append(line.strip())
c.sendall(body + b'.\r\nQUIT\r\n')
got.append(f.readline().decode().strip())
got.append(f.readline().decode().strip())
print('data', [g[:3] for g in got])
chunk = b'Subject: pipelined bdat\r\n\r\n.not stuffed\r\n'
got = pipelined(b'MAIL FROM:<p@example.org>\r\nRCPT TO:<' + rcpt.encode() + b'>\r\nBDAT %d LAST\r\n' % len(chunk) + chunk, 3)
print('bdat', [g[:3] for g in got])
`, l.Addr, l.Socket, l.Rcpt)
	for _, ext := range []string{"8bitmime", "chunking", "enhancedstatuscodes", "pipelining", "size", "smtputf8", "auth"} {
		if !strings.Contains(out, " "+ext) {
			t.Errorf("EHLO over TCP lacks %s: %s", ext, out)
		}
	}
	if !strings.Contains(out, "data ['250', '250', '250', '354', '250', '221']") || !strings.Contains(out, "bdat ['250', '250', '250', '221']") {
		t.Errorf("pipelined sessions:\n%s", out)
	}
	got := l.delivered(4)
	want := []string{
		"pipelined bdat|<p@example.org>|None|b'.not stuffed\\n'",
		"pipelined data|<p@example.org>|None|b'line\\n.stuffed\\n'",
		"smtplib tcp|<script@example.org>|None|b'caf\\xc3\\xa9\\n.dot\\n'",
		"smtplib unix|<>|None|b'null sender\\n'",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("delivered:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// swaks, with the options people use to try a mail server: over TCP,
// over the Unix socket, pipelined, with a header and an attachment.
func TestSwaks(t *testing.T) {
	if _, err := exec.LookPath("swaks"); err != nil {
		t.Skip("SKIP: swaks is not installed (apt-get install swaks)")
	}
	l := start(t)
	host, port, _ := net.SplitHostPort(l.Addr)
	att := filepath.Join(t.TempDir(), "report.txt")
	os.WriteFile(att, []byte("attached\n"), 0o600)
	runs := [][]string{
		{"--server", host, "--port", port, "--h-Subject", "swaks tcp", "--body", "over tcp"},
		{"--socket", l.Socket, "--h-Subject", "swaks unix", "--body", "over the socket"},
		{"--server", host, "--port", port, "--pipeline", "--h-Subject", "swaks pipeline", "--body", "pipelined"},
		{"--server", host, "--port", port, "--h-Subject", "swaks attach", "--attach", att},
	}
	for _, r := range runs {
		args := append([]string{"--to", l.Rcpt, "--from", "swaks@example.org", "--helo", "client.example", "--timeout", "20"}, r...)
		out, err := exec.Command("swaks", args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "250 2.0.0 Ok: queued as") {
			t.Errorf("swaks %v: %v\n%s", r, err, out)
		}
	}
	got := l.delivered(len(runs))
	for i, subj := range []string{"swaks attach|<swaks@example.org>", "swaks pipeline|", "swaks tcp|", "swaks unix|"} {
		if i >= len(got) || !strings.HasPrefix(got[i], subj) {
			t.Errorf("delivered %q, want %s...", got, subj)
			break
		}
	}
	if !strings.Contains(strings.Join(got, "\n"), "over the socket") {
		t.Errorf("bodies: %q", got)
	}
}

// dialog is a raw client, for sessions written out line by line.
type dialog struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, network, addr string) *dialog {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
	d.expect("220 ")
	return d
}

func (d *dialog) expect(want string) string {
	d.t.Helper()
	var last string
	for {
		line, err := d.r.ReadString('\n')
		if err != nil {
			d.t.Fatalf("read reply (want %s): %v", want, err)
		}
		last = strings.TrimRight(line, "\r\n")
		if len(last) < 4 || last[3] != '-' {
			break
		}
	}
	if !strings.HasPrefix(last, want) {
		d.t.Fatalf("reply %q, want %s", last, want)
	}
	return last
}

func (d *dialog) cmd(line, want string) string {
	d.t.Helper()
	if _, err := fmt.Fprintf(d.c, "%s\r\n", line); err != nil {
		d.t.Fatal(err)
	}
	return d.expect(want)
}

// A session as PHPMailer (isSMTP, SMTPKeepAlive) holds it: EHLO, one
// command at a time, its header set with X-Mailer, lines dot-stuffed,
// RSET between two messages, QUIT.
func TestPHPMailerSession(t *testing.T) {
	l := start(t)
	d := dial(t, "tcp", l.Addr)
	d.cmd("EHLO web.example", "250 ")
	for i := 1; i <= 2; i++ {
		d.cmd("MAIL FROM:<www-data@web.example>", "250 ")
		d.cmd("RCPT TO:<"+l.Rcpt+">", "250 ")
		d.cmd("DATA", "354 ")
		msg := []string{
			"Date: Wed, 2 Dec 2026 06:00:00 +0000",
			"To: " + l.Rcpt,
			"From: Web Shop <www-data@web.example>",
			fmt.Sprintf("Subject: PHPMailer %d", i),
			fmt.Sprintf("Message-ID: <phpmailer%d@web.example>", i),
			"X-Mailer: PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)",
			"MIME-Version: 1.0",
			"Content-Type: text/plain; charset=iso-8859-1",
			"",
			"Order confirmed.",
			"..a line that began with a dot",
			".",
		}
		for _, line := range msg {
			fmt.Fprintf(d.c, "%s\r\n", line)
		}
		d.expect("250 2.0.0 Ok: queued as ")
		d.cmd("RSET", "250 ")
	}
	d.cmd("QUIT", "221 ")
	got := l.delivered(2)
	for i, g := range got {
		want := fmt.Sprintf("PHPMailer %d|<www-data@web.example>|None|b'Order confirmed.\\n.a line that began with a dot\\n'", i+1)
		if g != want {
			t.Errorf("delivered %s\nwant      %s", g, want)
		}
	}
	stored, _ := filepath.Glob(l.Path("Maildir", "new", "*"))
	if len(stored) > 0 {
		b, _ := os.ReadFile(stored[0])
		if !strings.Contains(string(b), "X-Mailer: PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)\nMIME-Version: 1.0\n") {
			t.Errorf("header not kept as sent:\n%s", b)
		}
		// The listener's Received field names the client, as Postfix's,
		// by its EHLO name and address, not its uid.
		if want := "\nReceived: from web.example (127.0.0.1)\n\tby testhost.example (homepost) id "; !strings.Contains(string(b), want) {
			t.Errorf("no Received field %q:\n%s", want, b)
		}
	}
}

// A client that disconnects in the middle of DATA leaves nothing: not in
// the Maildir, not in the outbox, no draft; the agent serves the next
// client.
func TestDisconnectInData(t *testing.T) {
	l := start(t)
	d := dial(t, "unix", l.Socket)
	d.cmd("EHLO c", "250 ")
	d.cmd("MAIL FROM:<a@example.org>", "250 ")
	d.cmd("RCPT TO:<"+l.Rcpt+">", "250 ")
	d.cmd("DATA", "354 ")
	fmt.Fprintf(d.c, "Subject: cut off\r\n\r\nhalf a mess")
	time.Sleep(200 * time.Millisecond)
	d.c.Close()
	d = dial(t, "unix", l.Socket)
	d.cmd("EHLO c", "250 ")
	d.cmd("MAIL FROM:<a@example.org>", "250 ")
	d.cmd("RCPT TO:<"+l.Rcpt+">", "250 ")
	d.cmd("DATA", "354 ")
	fmt.Fprintf(d.c, "Subject: whole\r\n\r\nall of it\r\n.\r\n")
	d.expect("250 ")
	got := l.delivered(1)
	if !strings.HasPrefix(got[0], "whole|") {
		t.Errorf("delivered %q", got)
	}
	for _, sub := range []string{"new", "cur"} {
		if f := testenv.Files(l.Outbox(sub)); len(f) != 0 {
			t.Errorf("outbox/%s: %v", sub, f)
		}
	}
	for _, f := range testenv.Files(l.Outbox("tmp")) {
		if !strings.HasPrefix(f, "spare.") {
			t.Errorf("a draft left in outbox/tmp: %s", f)
		}
	}
}

// otherUser creates (once) a second local user to run clients as.
func otherUser(t *testing.T) (uid, gid int) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("SKIP: a second local user needs root to create (useradd) and to run as (setpriv); run the suite as root to test that other users are refused")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("SKIP: setpriv is not installed (util-linux)")
	}
	const name = "homepost-smtp-test"
	if out, err := exec.Command("id", "-u", name).Output(); err != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
			t.Skipf("SKIP: useradd %s: %v\n%s", name, err, out)
		}
		t.Cleanup(func() { exec.Command("userdel", name).Run() })
	} else {
		_ = out
	}
	u, _ := exec.Command("id", "-u", name).Output()
	g, _ := exec.Command("id", "-g", name).Output()
	uid, _ = strconv.Atoi(strings.TrimSpace(string(u)))
	gid, _ = strconv.Atoi(strings.TrimSpace(string(g)))
	if uid == 0 {
		t.Fatalf("cannot find the uid of %s", name)
	}
	return uid, gid
}

// A second local user reaches the loopback port but is refused (530
// 5.7.0) without AUTH, and cannot reach the Unix socket at all; with the
// user's secret it may submit.
func TestSecondUserRefused(t *testing.T) {
	uid, gid := otherUser(t)
	l := start(t)
	as := func(args ...string) *exec.Cmd {
		c := exec.Command("setpriv", append([]string{"--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), "--clear-groups", "--"}, args...)...)
		c.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
		c.Dir = "/"
		return c
	}
	script := `
import socket, sys, base64
def session(fam, addr, auth=None):
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.settimeout(20)
    try:
        c.connect(addr)
    except OSError as e:
        return ['connect: %s' % e.__class__.__name__]
    f = c.makefile('rb')
    def reply():
        while True:
            line = f.readline().decode()
            if line[3:4] != '-':
                return line.strip()
    out = [reply()]
    def cmd(s):
        c.sendall(s.encode() + b'\r\n')
        out.append(reply())
    cmd('EHLO other.example')
    if auth:
        cmd('AUTH PLAIN ' + base64.b64encode(auth.encode()).decode())
    cmd('MAIL FROM:<intruder@example.org>')
    cmd('RCPT TO:<` + l.Rcpt + `>')
    cmd('DATA')
    if out[-1].startswith('354'):
        c.sendall(b'Subject: from the other user\r\n\r\nhello\r\n.\r\n')
        out.append(reply())
    cmd('QUIT')
    return [o[:9] if o[0] in '45' else o[:3] for o in out]
host, port = sys.argv[1].rsplit(':', 1)
print('tcp', session(socket.AF_INET, (host, int(port))))
print('unix', session(socket.AF_UNIX, sys.argv[2]))
if len(sys.argv) > 3:
    print('auth', session(socket.AF_INET, (host, int(port)), '\0' + sys.argv[3] + '\0' + sys.argv[4]))
`
	out, err := as("/usr/bin/python3", "-c", script, l.Addr, l.Socket).CombinedOutput()
	if err != nil {
		t.Fatalf("python as uid %d: %v\n%s", uid, err, out)
	}
	if !strings.Contains(string(out), "tcp ['220', '250', '530 5.7.0'") {
		t.Errorf("the other user over TCP was not refused with 530 5.7.0:\n%s", out)
	}
	if !strings.Contains(string(out), "unix ['connect: PermissionError']") {
		t.Errorf("the other user reached the Unix socket:\n%s", out)
	}
	// With the user's secret, which the other user cannot read itself.
	secretFile := l.Path(".config", "homepost", "smtp-secret")
	st, err := os.Stat(secretFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %s: %v %v", secretFile, st, err)
	}
	if b, err := as("/bin/cat", secretFile).CombinedOutput(); err == nil {
		t.Errorf("the other user can read the secret: %s", b)
	}
	secret, _ := os.ReadFile(secretFile)
	login := testenv.Login(t)
	out, err = as("/usr/bin/python3", "-c", script, l.Addr, l.Socket, login, "wrong-secret-wrong-secret").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "auth ['220', '250', '535 5.7.8', '530 5.7.0'") {
		t.Errorf("a wrong secret: %v\n%s", err, out)
	}
	out, err = as("/usr/bin/python3", "-c", script, l.Addr, l.Socket, login, strings.TrimSpace(string(secret))).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "auth ['220', '250', '235', '250', '250', '354', '250', '221']") {
		t.Errorf("with the secret: %v\n%s", err, out)
	}
	got := l.delivered(1)
	if !strings.HasPrefix(got[0], "from the other user|<intruder@example.org>") {
		t.Errorf("delivered %q", got)
	}
	// And swaks, as such a user would try it.
	if _, err := exec.LookPath("swaks"); err == nil {
		host, port, _ := net.SplitHostPort(l.Addr)
		out, err := as("/usr/bin/swaks", "--server", host, "--port", port, "--to", l.Rcpt, "--from", "x@example.org", "--timeout", "20").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "530 5.7.0") {
			t.Errorf("swaks as the other user: %v\n%s", err, out)
		}
		out, err = as("/usr/bin/swaks", "--server", host, "--port", port, "--to", l.Rcpt, "--from", "x@example.org", "--timeout", "20",
			"--auth", "PLAIN", "--auth-user", login, "--auth-password", strings.TrimSpace(string(secret)), "--h-Subject", "swaks authed").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "250 2.0.0 Ok: queued as") {
			t.Errorf("swaks with AUTH as the other user: %v\n%s", err, out)
		}
		l.delivered(2)
	}
}

// kill -9 of the agent at random instants while a client streams
// messages loses nothing: every message answered 250 is delivered, once,
// by the next agent; one cut off before its 250 is delivered at most
// once.
func TestKillAfter250LosesNothing(t *testing.T) {
	l := setup(t, "")
	acked := map[string]bool{}
	sent := map[string]bool{}
	for round := range 6 {
		agent := l.StartAgent()
		l.waitListening()
		done := make(chan struct{})
		// The kill comes at a random moment after the round's first
		// 250: on a loaded machine a kill timed from the agent's start
		// could come before any message was answered.
		firstAck := make(chan struct{})
		go func() {
			defer close(done)
			c, err := net.Dial("unix", l.Socket)
			if err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			r := bufio.NewReader(c)
			reply := func() string {
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return ""
					}
					if len(line) < 4 || line[3] != '-' {
						return line
					}
				}
			}
			reply()
			fmt.Fprintf(c, "EHLO c\r\n")
			reply()
			for i := 0; ; i++ {
				subj := fmt.Sprintf("kill %d.%d", round, i)
				// Pipelined, as a real client would.
				fmt.Fprintf(c, "MAIL FROM:<k@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n", l.Rcpt)
				if !strings.HasPrefix(reply(), "250") || !strings.HasPrefix(reply(), "250") || !strings.HasPrefix(reply(), "354") {
					return
				}
				sent[subj] = true
				fmt.Fprintf(c, "Subject: %s\r\n\r\n%s\r\n.\r\n", subj, strings.Repeat("x", 1000))
				if !strings.HasPrefix(reply(), "250 2.0.0 Ok: queued as ") {
					return
				}
				acked[subj] = true
				if i == 0 {
					close(firstAck)
				}
			}
		}()
		select {
		case <-firstAck:
		case <-done:
		case <-time.After(20 * time.Second):
		}
		time.Sleep(time.Duration(rand.IntN(60)) * time.Millisecond)
		agent.Process.Kill()
		agent.Wait()
		<-done
	}
	l.Once()
	l.WaitFor(func() bool { return len(testenv.Files(l.Path("Maildir", "new"))) >= len(acked) }, "the acknowledged messages")
	got := l.delivered(len(testenv.Files(l.Path("Maildir", "new"))))
	seen := map[string]int{}
	for _, g := range got {
		subj, _, _ := strings.Cut(g, "|")
		seen[subj]++
	}
	for s := range acked {
		if seen[s] != 1 {
			t.Errorf("%s was answered 250 and delivered %d times", s, seen[s])
		}
	}
	for s, n := range seen {
		if n > 1 || !sent[s] {
			t.Errorf("%s delivered %d times (sent: %v)", s, n, sent[s])
		}
	}
	if len(acked) < 6 {
		t.Errorf("only %d messages acknowledged in 6 rounds: the test proves little", len(acked))
	}
	t.Logf("%d messages answered 250 across 6 kills, %d delivered", len(acked), len(got))
}

// With systemd's socket activation, the agent takes its listeners from
// the sockets it is given (LISTEN_FDS) and serves on them; here
// systemd-socket-activate stands in for a user manager.
func TestSocketActivation(t *testing.T) {
	if _, err := exec.LookPath("systemd-socket-activate"); err != nil {
		t.Skip("SKIP: systemd-socket-activate is not installed (it comes with systemd)")
	}
	l := setup(t, "")
	os.MkdirAll(filepath.Dir(l.Socket), 0o700)
	args := []string{"-l", l.Socket, "-l", l.Addr}
	for _, v := range l.Vars {
		args = append(args, "-E", v)
	}
	args = append(args, filepath.Join(l.Bin, "homepost"), "agent")
	c := exec.Command("systemd-socket-activate", args...)
	var errb testenv.LockedBuffer
	c.Stdout, c.Stderr = &errb, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
		// The agent runs in the activator's process (it execs).
		if t.Failed() {
			t.Logf("log:\n%s", errb.String())
		}
	})
	l.WaitFor(func() bool { return strings.Contains(errb.String(), "Listening on") || fileExists(l.Socket) }, "systemd-socket-activate")
	time.Sleep(200 * time.Millisecond)
	// The first connection starts the agent.
	for _, a := range [][2]string{{"unix", l.Socket}, {"tcp", l.Addr}} {
		d := dial(t, a[0], a[1])
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<sa@example.org>", "250 ")
		d.cmd("RCPT TO:<"+l.Rcpt+">", "250 ")
		d.cmd("DATA", "354 ")
		fmt.Fprintf(d.c, "Subject: activated %s\r\n\r\nhi\r\n.\r\n", a[0])
		d.expect("250 2.0.0")
		d.cmd("QUIT", "221")
	}
	got := l.delivered(2)
	if !strings.HasPrefix(got[0], "activated tcp|") || !strings.HasPrefix(got[1], "activated unix|") {
		t.Errorf("delivered %q", got)
	}
	if strings.Count(errb.String(), "(systemd)") != 2 {
		t.Errorf("the agent does not say it took its sockets from systemd:\n%s", errb.String())
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// homepost check says whether the listener is on and where, tries a
// session on each address, and says where the AUTH secret is.
func TestCheckShowsListener(t *testing.T) {
	l := setup(t, "")
	out, _, _ := l.Run(nil, "homepost", "check")
	if !strings.Contains(out, "warn smtp: unix:"+l.Socket+": not listening: the agent does not run") ||
		!strings.Contains(out, "warn smtp: tcp:"+l.Addr+": not listening") {
		t.Errorf("check without an agent:\n%s", out)
	}
	l.StartAgent()
	l.waitListening()
	out, _, _ = l.Run(nil, "homepost", "check")
	for _, want := range []string{
		"ok   smtp: unix:" + l.Socket + " answers (EHLO, NOOP): PIPELINING 8BITMIME SMTPUTF8 SIZE ENHANCEDSTATUSCODES CHUNKING AUTH\n",
		"ok   smtp: tcp:" + l.Addr + " answers (EHLO, NOOP): PIPELINING 8BITMIME SMTPUTF8 SIZE ENHANCEDSTATUSCODES CHUNKING AUTH\n",
		"ok   smtp-auth: clients of other users log in with AUTH PLAIN or LOGIN as " + testenv.Login(t) + " and the secret in " + l.Path(".config", "homepost", "smtp-secret") + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check lacks %q:\n%s", want, out)
		}
	}
}

// A secret file removed while the agent listens on TCP: homepost check
// warns that clients of other users cannot log in, and says how a new
// one is made; the agent makes it when it reads its configuration
// again (SIGHUP), and check is content again.
func TestSecretRemovedWhileListening(t *testing.T) {
	l := start(t)
	secret := l.Path(".config", "homepost", "smtp-secret")
	old, err := os.ReadFile(secret)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(secret)
	out, _, _ := l.Run(nil, "homepost", "check")
	want := fmt.Sprintf("warn smtp-auth: %s is missing: clients of other users cannot log in while the agent listens on TCP; kill -HUP %d makes a new one\n", secret, l.agent.Process.Pid)
	if !strings.Contains(out, want) {
		t.Errorf("check lacks %q:\n%s", want, out)
	}
	l.agent.Process.Signal(syscall.SIGHUP)
	l.WaitFor(func() bool { return fileExists(secret) }, "a new secret")
	if b, _ := os.ReadFile(secret); bytes.Equal(b, old) || len(b) < 16 {
		t.Errorf("the new secret %q", b)
	}
	out, _, _ = l.Run(nil, "homepost", "check")
	if !strings.Contains(out, "ok   smtp-auth: clients of other users log in with AUTH PLAIN or LOGIN as "+testenv.Login(t)+" and the secret in "+secret+"\n") {
		t.Errorf("check after the reload:\n%s", out)
	}
}
