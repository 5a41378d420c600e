package smtpd

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"homepost/config"
	"homepost/outbox"
)

// testServer serves a temporary outbox on a Unix socket and a loopback
// port; uid is the user the server works for.
type testServer struct {
	cfg  *config.Config
	s    *Server
	unix string
	tcp  string
	log  *logBuf // the server's log
}

// logBuf collects a server's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startServer(t *testing.T, uid int, edit func(*config.Config)) *testServer {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", dir, "Alice", uid))
	cfg.Hostname = "testhost.example"
	cfg.SMTP.Socket = filepath.Join(dir, "run", "smtp")
	cfg.SMTP.SecretFile = filepath.Join(dir, "secret")
	cfg.SMTP.Listen = []string{"127.0.0.1:0"}
	if edit != nil {
		edit(cfg)
	}
	ls, err := Listen(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	lb := &logBuf{}
	ts := &testServer{cfg: cfg, s: New(cfg, slog.New(slog.NewTextHandler(lb, nil))), log: lb}
	for _, l := range ls {
		if l.Addr().Network() == "unix" {
			ts.unix = l.Addr().String()
		} else {
			ts.tcp = l.Addr().String()
		}
		go ts.s.Serve(l)
	}
	t.Cleanup(func() { ts.s.Close(time.Second) })
	return ts
}

// dialog is a raw SMTP client: it sends lines and reads replies.
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
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
	d.expect("220")
	return d
}

// reply reads one (possibly multi-line) reply.
func (d *dialog) reply() string {
	d.t.Helper()
	var all []string
	for {
		line, err := d.r.ReadString('\n')
		if err != nil {
			d.t.Fatalf("read reply: %v (so far %q)", err, all)
		}
		all = append(all, strings.TrimRight(line, "\r\n"))
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(all, "\n")
		}
	}
}

func (d *dialog) send(s string) {
	d.t.Helper()
	if _, err := d.c.Write([]byte(s)); err != nil {
		d.t.Fatal(err)
	}
}

// cmd sends a line and checks that the reply starts with want.
func (d *dialog) cmd(line, want string) string {
	d.t.Helper()
	d.send(line + "\r\n")
	return d.expect(want)
}

func (d *dialog) expect(want string) string {
	d.t.Helper()
	r := d.reply()
	if !strings.HasPrefix(r, want) {
		d.t.Fatalf("reply %q, want %s", r, want)
	}
	return r
}

// queued reads the queue files in new/.
func queued(t *testing.T, cfg *config.Config) map[string]*outbox.Message {
	t.Helper()
	box := outbox.Dir(cfg.Outbox)
	names, _ := box.Names("new")
	out := map[string]*outbox.Message{}
	for _, n := range names {
		m, err := outbox.Open(box.Path("new", n))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		out[n] = m
	}
	return out
}

// body is a queued message without the Received field that the
// listener puts on top (rawBody has it).
func body(t *testing.T, m *outbox.Message) string {
	b := rawBody(t, m)
	if loc := listenerReceived.FindStringIndex(b); loc != nil {
		return b[loc[1]:]
	}
	return b
}

var listenerReceived = regexp.MustCompile(`^Received: from [^\n]*\n\tby [^\n]* \(homepost\) id [^\n]*\n`)

func rawBody(t *testing.T, m *outbox.Message) string {
	b := make([]byte, m.Size)
	if _, err := m.Body().ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// drafts lists what is in outbox/tmp besides spares.
func drafts(cfg *config.Config) []string {
	ents, _ := os.ReadDir(filepath.Join(cfg.Outbox, "tmp"))
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "spare.") {
			out = append(out, e.Name())
		}
	}
	return out
}

// A message over the Unix socket is queued as sendmail queues it: the
// header completed, Bcc removed, the rest byte for byte; the reply names
// the queue ID.
func TestQueuesLikeSendmail(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	ehlo := d.cmd("EHLO client.example", "250")
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 67108864", "ENHANCEDSTATUSCODES", "CHUNKING"} {
		if !strings.Contains(ehlo, ext) {
			t.Errorf("EHLO reply lacks %s:\n%s", ext, ehlo)
		}
	}
	if strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("the Unix socket offers STARTTLS:\n%s", ehlo)
	}
	d.cmd("MAIL FROM:<grafana@testhost.example> BODY=8BITMIME", "250")
	d.cmd("RCPT TO:<bob@example.org>", "250")
	d.cmd("RCPT TO:<secret@example.org>", "250")
	d.cmd("DATA", "354")
	msg := "Subject: =?UTF-8?Q?caf=C3=A9?= \r\n\tfolded\r\nTo: bob@example.org\r\nBcc: secret@example.org\r\n\r\nbody caf\xc3\xa9\r\n..leading dot\r\n"
	d.send(msg + ".\r\n")
	r := d.expect("250 2.0.0 Ok: queued as ")
	d.cmd("QUIT", "221")
	q := queued(t, ts.cfg)
	if len(q) != 1 {
		t.Fatalf("%d messages queued", len(q))
	}
	for name, m := range q {
		if !strings.HasSuffix(r, outbox.ID(name)) {
			t.Errorf("reply %q does not name %s", r, outbox.ID(name))
		}
		if m.Env.Sender != "grafana@testhost.example" {
			t.Errorf("sender %q", m.Env.Sender)
		}
		if len(m.Env.Rcpts) != 2 {
			t.Errorf("recipients %+v", m.Env.Rcpts)
		}
		b := body(t, m)
		if !strings.HasPrefix(b, "Subject: =?UTF-8?Q?caf=C3=A9?= \n\tfolded\nTo: bob@example.org\nFrom: grafana@testhost.example\nDate: ") {
			t.Errorf("header:\n%s", b)
		}
		if strings.Contains(b, "Bcc") || strings.Contains(b, "secret@") {
			t.Errorf("Bcc kept:\n%s", b)
		}
		if !strings.HasSuffix(b, "\n\nbody caf\xc3\xa9\n.leading dot\n") {
			t.Errorf("body:\n%q", b)
		}
	}
}

// The null sender stays null; BDAT (CHUNKING) queues the bytes as sent,
// dots and all, with the reply to BDAT LAST.
func TestBDATAndNullSender(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<>", "250")
	d.cmd("RCPT TO:<me@testhost.example>", "250")
	part1 := "From: a@b\r\nSubject: chunks\r\n\r\n"
	part2 := ".not stuffed\r\nend\r\n"
	d.send(fmt.Sprintf("BDAT %d\r\n%s", len(part1), part1))
	d.expect("250")
	d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(part2), part2))
	d.expect("250 2.0.0 Ok: queued as")
	q := queued(t, ts.cfg)
	for _, m := range q {
		if m.Env.Sender != "" {
			t.Errorf("sender %q, want <>", m.Env.Sender)
		}
		if b := body(t, m); !strings.HasSuffix(b, "\n\n.not stuffed\nend\n") {
			t.Errorf("body %q", b)
		}
	}
	if len(q) != 1 {
		t.Fatalf("%d queued", len(q))
	}
}

// A client that goes away in the middle of DATA, or of BDAT, leaves
// nothing queued and no draft behind.
func TestDropInDataQueuesNothing(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	for _, bdat := range []bool{false, true} {
		d := dial(t, "unix", ts.unix)
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@b>", "250")
		d.cmd("RCPT TO:<me@testhost.example>", "250")
		if bdat {
			d.send("BDAT 100000\r\nSubject: half\r\n\r\nsome of it")
		} else {
			d.cmd("DATA", "354")
			d.send("Subject: half\r\n\r\nsome of it\r\n")
		}
		time.Sleep(100 * time.Millisecond)
		d.c.Close()
	}
	time.Sleep(300 * time.Millisecond)
	if q := queued(t, ts.cfg); len(q) != 0 {
		t.Errorf("%d messages queued by clients that went away", len(q))
	}
	if dr := drafts(ts.cfg); len(dr) != 0 {
		t.Errorf("drafts left in tmp/: %v", dr)
	}
}

// A message larger than SIZE is refused, whether announced or not, and
// nothing is queued.
func TestSizeLimit(t *testing.T) {
	ts := startServer(t, os.Getuid(), func(c *config.Config) { c.SMTP.MaxMessageSize = 1000 })
	d := dial(t, "unix", ts.unix)
	if r := d.cmd("EHLO c", "250"); !strings.Contains(r, "SIZE 1000") {
		t.Errorf("EHLO: %s", r)
	}
	d.cmd("MAIL FROM:<a@b> SIZE=5000", "552 5.3.4")
	d.cmd("MAIL FROM:<a@b>", "250")
	d.cmd("RCPT TO:<me@testhost.example>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: big\r\n\r\n" + strings.Repeat("x", 2000) + "\r\n.\r\n")
	d.expect("552 5.3.4")
	d.cmd("NOOP", "250")
	if q := queued(t, ts.cfg); len(q) != 0 {
		t.Errorf("%d queued", len(q))
	}
	if dr := drafts(ts.cfg); len(dr) != 0 {
		t.Errorf("drafts left: %v", dr)
	}
}

// On TCP, a client whose socket is the user's is served without AUTH.
func TestTCPSameUserNeedsNoAuth(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "tcp", ts.tcp)
	if r := d.cmd("EHLO c", "250"); !strings.Contains(r, "AUTH PLAIN") {
		t.Errorf("TCP does not offer AUTH PLAIN:\n%s", r)
	}
	d.cmd("MAIL FROM:<a@b>", "250")
}

// On TCP, a client of another user gets 530 5.7.0 until it gives the
// secret with AUTH PLAIN; a wrong secret gets 535.
func TestTCPOtherUserMustAuth(t *testing.T) {
	// The server works for another uid: to it, this test is someone else.
	ts := startServer(t, os.Getuid()+1, nil)
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@b>", "530 5.7.0")
	wrong := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00guessguessguessguess"))
	d.cmd("AUTH PLAIN "+wrong, "535 5.7.8")
	secret, err := ReadSecret(ts.cfg.SMTP.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(ts.cfg.SMTP.SecretFile)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %04o", st.Mode().Perm())
	}
	other := base64.StdEncoding.EncodeToString([]byte("\x00mallory\x00" + secret))
	d.cmd("AUTH PLAIN "+other, "535 5.7.8")
	good := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00" + secret))
	d.cmd("AUTH PLAIN "+good, "235")
	d.cmd("MAIL FROM:<a@b>", "250")
	d.cmd("RCPT TO:<me@testhost.example>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: authed\r\n\r\nhi\r\n.\r\n")
	d.expect("250 2.0.0")

	// The Unix socket takes the credentials of the socket: root or the
	// user. Root may always; here the test is neither unless root.
	u := dial(t, "unix", ts.unix)
	u.cmd("EHLO c", "250")
	if os.Getuid() == 0 {
		u.cmd("MAIL FROM:<a@b>", "250")
	} else {
		u.cmd("MAIL FROM:<a@b>", "530 5.7.0")
	}
}

// Past max_sessions a client of the user waits for a session to end,
// then is greeted: a pool of connections one larger than the limit (a
// web application's) had its extra connection refused at once, and the
// mail it carried failed.
func TestSessionLimitWaits(t *testing.T) {
	ts := startServer(t, os.Getuid(), func(c *config.Config) { c.SMTP.MaxSessions = 2 })
	a := dial(t, "unix", ts.unix)
	b := dial(t, "unix", ts.unix)
	c, err := net.Dial("unix", ts.unix)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	greeted := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(c).ReadString('\n')
		greeted <- line
	}()
	select {
	case line := <-greeted:
		t.Fatalf("third session answered while two are open: %q", line)
	case <-time.After(300 * time.Millisecond):
	}
	a.cmd("NOOP", "250")
	b.cmd("QUIT", "221")
	if line := <-greeted; !strings.HasPrefix(line, "220 ") {
		t.Errorf("third session, once the second ended: %q", line)
	}
}

// Past max_sessions, a client of the user that finds no session ending
// within the wait is told 421 and closed; the others go on.
func TestSessionLimit(t *testing.T) {
	saved := slotWait
	slotWait = 300 * time.Millisecond
	t.Cleanup(func() { slotWait = saved })
	ts := startServer(t, os.Getuid(), func(c *config.Config) { c.SMTP.MaxSessions = 2 })
	a := dial(t, "unix", ts.unix)
	b := dial(t, "unix", ts.unix)
	c, err := net.Dial("unix", ts.unix)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "421 4.3.2") {
		t.Errorf("third session: %q", line)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("third session refused after %v, without waiting for a session to end", d)
	}
	c.Close()
	// The log says who was refused, to tell which program floods.
	if l := ts.log.String(); !strings.Contains(l, "too many at once") || !strings.Contains(l, "peer_uid="+strconv.Itoa(os.Getuid())) {
		t.Errorf("log:\n%s", l)
	}
	a.cmd("NOOP", "250")
	b.cmd("QUIT", "221")
	time.Sleep(100 * time.Millisecond)
	dial(t, "unix", ts.unix).cmd("NOOP", "250")
}

// A silent client is closed after idle_timeout, in a command or within
// DATA; a slow one that keeps sending is not.
func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, os.Getuid(), func(c *config.Config) { c.SMTP.IdleTimeout.Duration = 300 * time.Millisecond })
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@b>", "250")
	d.cmd("RCPT TO:<me@testhost.example>", "250")
	d.cmd("DATA", "354")
	for range 5 {
		d.send("Subject: slow\r\n")
		time.Sleep(150 * time.Millisecond)
	}
	d.send("\r\nbody\r\n.\r\n")
	d.expect("250 2.0.0")
	d.cmd("MAIL FROM:<a@b>", "250")
	d.cmd("RCPT TO:<me@testhost.example>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: stalls\r\n")
	time.Sleep(time.Second)
	if q := queued(t, ts.cfg); len(q) != 1 {
		t.Errorf("%d queued, want the slow one only", len(q))
	}
	if dr := drafts(ts.cfg); len(dr) != 0 {
		t.Errorf("drafts left: %v", dr)
	}
}

// go-smtp's reply after too many errors is spelled right.
func TestTooManyErrorsSpelling(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	for range 4 {
		d.cmd("XYZZY", "501")
	}
	if r := d.expect("500"); !strings.Contains(r, "Quitting now") {
		t.Errorf("reply %q", r)
	}
}

// The kernel's table names this process as the owner of its own
// connection.
func TestPeerUIDOfOwnConnection(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		host := "127.0.0.1:0"
		if network == "tcp6" {
			host = "[::1]:0"
		}
		l, err := net.Listen(network, host)
		if err != nil {
			t.Logf("%s: %v", network, err)
			continue
		}
		defer l.Close()
		go func() {
			c, err := net.Dial(network, l.Addr().String())
			if err == nil {
				time.Sleep(time.Second)
				c.Close()
			}
		}()
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		uid, err := PeerUID(c)
		c.Close()
		if err != nil || uid != os.Getuid() {
			t.Errorf("%s: PeerUID = %d, %v; want %d", network, uid, err, os.Getuid())
		}
	}
}

func TestFindSocket(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:09C5 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0
   1: 0100007F:9C40 0100007F:09C5 06 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:9C40 0100007F:09C5 01 00000000:00000000 00:00000000 00000000  1001        0 3 1 0 100 0 0 10 0
   3: 0100007F:09C5 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 4 1 0 100 0 0 10 0
`
	srv := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0x09C5}
	cli := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0x9C40}
	uid, found, err := findSocket(bufio.NewScanner(strings.NewReader(table)), cli, srv)
	if err != nil || !found || uid != 1001 {
		t.Errorf("findSocket = %d, %v, %v; want 1001 (the client's, not the server's or TIME_WAIT's)", uid, found, err)
	}
	v6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:9C40 00000000000000000000000001000000:09C5 01 00000000:00000000 00:00000000 00000000  1002        0 5
   1: 0000000000000000FFFF00000100007F:9C41 0000000000000000FFFF00000100007F:09C5 01 00000000:00000000 00:00000000 00000000  1003        0 6
`
	uid, found, _ = findSocket(bufio.NewScanner(strings.NewReader(v6)), &net.TCPAddr{IP: net.IPv6loopback, Port: 0x9C40}, &net.TCPAddr{IP: net.IPv6loopback, Port: 0x09C5})
	if !found || uid != 1002 {
		t.Errorf("::1: %d %v", uid, found)
	}
	// An IPv4 client of a dual-stack socket is listed as ::ffff:127.0.0.1.
	uid, found, _ = findSocket(bufio.NewScanner(strings.NewReader(v6)), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0x9C41}, srv)
	if !found || uid != 1003 {
		t.Errorf("v4-mapped: %d %v", uid, found)
	}
}

// FuzzFindSocket: no table makes the parser panic.
func FuzzFindSocket(f *testing.F) {
	f.Add("sl local rem\n 0: 0100007F:09C5 0100007F:9C40 01 0:0 0:0 0 1000 0 4\n")
	f.Add(" 0: 0000000000000000FFFF00000100007F:9C41 zz:09C5 01 a b c 1003\n")
	f.Fuzz(func(t *testing.T, table string) {
		findSocket(bufio.NewScanner(strings.NewReader(table)), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0x9C40}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0x09C5})
	})
}

// ListenUnix creates the socket's directory mode 0700 and replaces a
// socket left behind, but not a file that is no socket.
func TestListenUnixDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rt")
	p := filepath.Join(dir, "smtp")
	l, err := ListenUnix(p)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %04o", st.Mode().Perm())
	}
	// A socket left by a dead agent (no unlink on close).
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	l, err = ListenUnix(p)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	l.Close()
	os.WriteFile(p, []byte("x"), 0o600)
	if _, err := ListenUnix(p); err == nil {
		t.Error("replaced a regular file")
	}
}

// Bare names, as local programs give them, are qualified with the host
// name; message lines that look like commands are not touched, in DATA
// or BDAT.
func TestUnqualifiedNames(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO c", "250")
	// Pipelined, as PIPELINING allows.
	d.send("MAIL FROM:<grafana> BODY=8BITMIME\r\nRCPT TO:<root>\r\nrcpt to:bob\r\nDATA\r\n")
	d.expect("250")
	d.expect("250")
	d.expect("250")
	d.expect("354")
	d.send("Subject: bare\r\n\r\nMAIL FROM:<x>\r\nRCPT TO:<y>\r\n.\r\n")
	d.expect("250 2.0.0")
	chunk := "Subject: bdat\r\n\r\nRCPT TO:<z>\r\n"
	d.send(fmt.Sprintf("MAIL FROM:<>\r\nRCPT TO:<root>\r\nBDAT %d LAST\r\n%sRCPT TO:<w>\r\n", len(chunk), chunk))
	d.expect("250")
	d.expect("250")
	d.expect("250 2.0.0")
	// The line after the chunk is a command again.
	d.expect("503 5.5.1 Missing MAIL FROM") // bad sequence (go-smtp says 502)
	d.cmd("MAIL FROM:<\"quoted name\">", "501")
	q := queued(t, ts.cfg)
	if len(q) != 2 {
		t.Fatalf("%d queued", len(q))
	}
	for _, m := range q {
		b := body(t, m)
		switch {
		case strings.Contains(b, "Subject: bare"):
			if m.Env.Sender != "grafana@testhost.example" || len(m.Env.Rcpts) != 2 || m.Env.Rcpts[0].Addr != "root@testhost.example" || m.Env.Rcpts[1].Addr != "bob@testhost.example" {
				t.Errorf("envelope %+v", m.Env)
			}
			if !strings.HasSuffix(b, "\n\nMAIL FROM:<x>\nRCPT TO:<y>\n") {
				t.Errorf("body %q", b)
			}
		default:
			if !strings.HasSuffix(b, "\n\nRCPT TO:<z>\n") {
				t.Errorf("body %q", b)
			}
		}
	}
}

// SMTPUTF8: an address and a header in UTF-8 are queued as sent.
func TestSMTPUTF8(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<dörte@exämple.org> SMTPUTF8", "250")
	d.cmd("RCPT TO:<jürgen@testhost.example>", "250")
	d.cmd("DATA", "354")
	d.send("From: Dörte <dörte@exämple.org>\r\nSubject: grüße\r\n\r\nß\r\n.\r\n")
	d.expect("250 2.0.0")
	q := queued(t, ts.cfg)
	if len(q) != 1 {
		t.Fatalf("%d queued", len(q))
	}
	for _, m := range q {
		if m.Env.Sender != "dörte@exämple.org" || m.Env.Rcpts[0].Addr != "jürgen@testhost.example" {
			t.Errorf("envelope %q %+v", m.Env.Sender, m.Env.Rcpts)
		}
		if b := body(t, m); !strings.HasPrefix(b, "From: Dörte <dörte@exämple.org>\nSubject: grüße\n") || !strings.HasSuffix(b, "\n\nß\n") {
			t.Errorf("body %q", b)
		}
	}
}

// An address in UTF-8 from a client that did not declare SMTPUTF8 in
// its MAIL is refused, as RFC 6531 (3.4) has it and Postfix words it:
// the client is to send it with SMTPUTF8, or an address in ASCII.
func TestUnicodeAddressNeedsSMTPUTF8(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO c", "250")
	if r := d.cmd("MAIL FROM:<dörte@exämple.org>", "553"); !strings.HasPrefix(r, "553 5.6.7 Must declare SMTPUTF8") {
		t.Errorf("MAIL: %q", r)
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	if r := d.cmd("RCPT TO:<jürgen@testhost.example>", "553"); !strings.HasPrefix(r, "553 5.6.7 Must declare SMTPUTF8") {
		t.Errorf("RCPT: %q", r)
	}
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<a@example.org> SMTPUTF8", "250")
	d.cmd("RCPT TO:<jürgen@testhost.example>", "250")
}

// An address that is not valid UTF-8 is refused at MAIL or RCPT, with
// SMTPUTF8 or without (declaring it would not help), as a bad address:
// a smarthost would refuse it ("500 5.5.2 Error: bad UTF-8 syntax" from
// Postfix) and the bounce could not say what was sent. The reply shows
// the bytes escaped, and the message is queued for the good recipients.
func TestInvalidUTF8AddressRefused(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO c", "250")
	for _, params := range []string{" SMTPUTF8", ""} {
		if r := d.cmd("MAIL FROM:<\xff\xfe@example.org>"+params, "553"); !strings.HasPrefix(r, "553 5.1.7 ") || !strings.Contains(r, `\xff\xfe`) {
			t.Errorf("MAIL%s: %q", params, r)
		}
		d.cmd("MAIL FROM:<a@example.org>"+params, "250")
		for _, rcpt := range []string{"\xff\xfe@test.invalid", "j\xf6rg@testhost.example", "\"\xe9\"@testhost.example"} {
			if r := d.cmd("RCPT TO:<"+rcpt+">", "553"); !strings.HasPrefix(r, "553 5.1.3 ") || !utf8.ValidString(r) {
				t.Errorf("RCPT %q%s: %q", rcpt, params, r)
			}
		}
		d.cmd("RCPT TO:<b@testhost.example>", "250")
		d.cmd("DATA", "354")
		d.send("Subject: x\r\n\r\nx\r\n.\r\n")
		d.expect("250 2.0.0")
	}
	q := queued(t, ts.cfg)
	if len(q) != 2 {
		t.Fatalf("%d queued, want 2", len(q))
	}
	for _, m := range q {
		if len(m.Env.Rcpts) != 1 || m.Env.Rcpts[0].Addr != "b@testhost.example" || m.Env.Sender != "a@example.org" {
			t.Errorf("envelope %q %+v", m.Env.Sender, m.Env.Rcpts)
		}
	}
}

// Receiving is true while a transaction is open (MAIL given, the message
// not yet queued), and false once it is queued, reset or the client
// goes: the agent waits for such mail before a batch in a stream.
func TestReceiving(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO client.example", "250")
	check := func(when string, want bool) {
		t.Helper()
		// The server's goroutine has answered before we read the reply.
		if got := Receiving(); got != want {
			t.Errorf("%s: Receiving() = %v, want %v", when, got, want)
		}
	}
	check("after EHLO", false)
	d.cmd("MAIL FROM:<a@testhost.example>", "250")
	check("after MAIL", true)
	d.cmd("RCPT TO:<bob@example.org>", "250")
	d.cmd("DATA", "354")
	check("in DATA", true)
	d.send("Subject: x\r\n\r\nbody\r\n.\r\n")
	d.expect("250 2.0.0")
	check("after the message is queued", false)
	d.cmd("MAIL FROM:<a@testhost.example>", "250")
	d.cmd("RSET", "250")
	check("after RSET", false)
	d.cmd("MAIL FROM:<a@testhost.example>", "250")
	d.cmd("QUIT", "221")
	for i := 0; Receiving() && i < 100; i++ {
		time.Sleep(10 * time.Millisecond) // Logout runs after the reply
	}
	check("after QUIT in a transaction", false)
}

// A stream ends a millisecond after its last transaction ended, when no
// other is open: the agent's last batch of a stream waits for that end,
// and a client sending one message after another begins the next well
// within it. (Checked against the clock the listener keeps, not by
// sleeping: a loaded machine must not make it pass or fail.)
func TestStreamingEndsSoonAfterLastTransaction(t *testing.T) {
	if Receiving() {
		t.Fatal("a transaction is open before the test")
	}
	defer lastEnd.Store(lastEnd.Load())
	for _, tc := range []struct {
		ago  time.Duration
		want bool
	}{
		{0, true},
		{300 * time.Microsecond, true},
		{700 * time.Microsecond, true},
		{1100 * time.Microsecond, false},
		{2 * time.Millisecond, false},
		{4 * time.Millisecond, false},
		{time.Hour, false},
	} {
		// Time only adds to ago: a "false" holds at once; a "true"
		// that a preempted test saw too late is asked again.
		got := !tc.want
		for try := 0; try < 5 && got != tc.want; try++ {
			lastEnd.Store(int64(time.Since(epoch0)) - int64(tc.ago))
			got = Streaming()
		}
		if got != tc.want {
			t.Errorf("last transaction ended %v ago: Streaming() = %v, want %v", tc.ago, got, tc.want)
		}
	}
	// An open transaction is a stream however long ago the last ended.
	var s session
	s.transaction(true)
	lastEnd.Store(int64(time.Since(epoch0)) - int64(time.Hour))
	if !Streaming() {
		t.Error("a transaction is open: Streaming() = false")
	}
	s.transaction(false)
}

// Close while clients are connecting: every Serve has returned before
// the sessions are waited for, so none is counted after the wait began
// (go-smtp's Shutdown waits on a WaitGroup its Serve adds to after each
// Accept; the race detector saw the two meet), and a Serve that starts
// after Close returns at once, its socket closed.
func TestCloseWhileConnecting(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", dir, "Alice", os.Getuid()))
	for range 50 {
		srv := New(cfg, nil)
		nl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(nl) }()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if c, err := net.Dial("tcp", nl.Addr().String()); err == nil {
						c.Close()
					}
				}
			}()
		}
		time.Sleep(2 * time.Millisecond)
		srv.Close(time.Second)
		close(stop)
		wg.Wait()
		select {
		case err := <-served:
			if err != nil {
				t.Fatalf("Serve after Close: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve still accepting 10 s after Close")
		}
	}
	// Serve after Close: returns, and the socket is closed.
	srv := New(cfg, nil)
	srv.Close(time.Second)
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(nl) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		nl.Close()
		t.Fatal("Serve after Close kept accepting")
	}
	if c, err := net.Dial("tcp", nl.Addr().String()); err == nil {
		c.Close()
		t.Error("the socket given to Serve after Close is still open")
	}
}
