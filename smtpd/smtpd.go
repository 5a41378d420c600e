// Package smtpd is the agent's SMTP listener, for programs that can only
// be given an SMTP host and port (Grafana, Gitea, Django, PHPMailer or
// nodemailer set to SMTP, a container on the host network): what they
// submit is queued in the outbox through package submit, exactly as
// sendmail queues it (header completion, Bcc removal, the bytes kept as
// they came, the same queue file), and the agent delivers it. A Received
// field on top names the client, by its EHLO name and address, as
// Postfix's smtpd does: which program sent a message is otherwise
// nowhere to be read. Its uid is only logged (the field leaves with
// relayed mail; see receivedFrom).
//
// # Failure model
//
// A message is answered 250 only once its queue file and its name in
// outbox/new are durable: a crash after the reply loses nothing. The
// queue file is sealed (package outbox, seal.go), renamed into new/ and
// then made durable with its name by one sync (a syncfs: one flush of
// the disk instead of sendmail's two), which the sessions that end
// their messages at the same time share (group commit, commit.go): each
// waits for a sync that begins after its rename. A torn file that a
// power loss left in new/ before its 250 fails its seal and is set
// aside by the agent, never sent. A client
// that goes away, or falls silent past the idle timeout, before the end
// of its message leaves nothing queued: the draft in outbox/tmp is
// removed, by the session itself and at once (Close waits for it, so
// that an agent that stops leaves none either); only a kill -9 leaves
// one, for the agent's cleanup of abandoned files in tmp/.
//
// # Who may submit
//
// Mail accepted here leaves through the user's own smarthost account,
// so only the user may submit. The Unix socket lives in a directory of
// mode 0700 (and its peer's credentials are checked as well). A loopback
// TCP port can be reached by every local user: a connection is taken
// without AUTH only when the kernel's socket table (/proc/net/tcp and
// tcp6) names the user as the owner of the client's socket, held by a
// process, when it is accepted (peer.go: an orphaned socket, which the
// kernel lists as uid 0, is nobody's); anyone else gets 530 5.7.0
// until it authenticates with AUTH PLAIN or LOGIN and the secret in the user's
// config directory (secret.go). AUTH is offered on every address, and the
// user's own client, known by its socket, is let in whatever it gives:
// programs set up with some SMTP user and password log in whenever
// AUTH is offered, and give up at a 535.
//
// # What is logged
//
// Every transaction refused (552 over max_message_size, a bad sender,
// 451 when the outbox cannot be written, 421 for a client silent past
// the idle timeout within its message, in DATA or a BDAT chunk) is
// logged with the client, its
// uid, the envelope and the reply, as Postfix's "NOQUEUE: reject"; so
// are a client that begins with a TLS handshake, a command line over
// the limit and a client of another user that did not log in in time.
//
// # Protocol
//
// go-smtp's server, with PIPELINING, 8BITMIME, SMTPUTF8, SIZE,
// ENHANCEDSTATUSCODES and CHUNKING (BDAT). There is no STARTTLS: the
// listener is on loopback or a Unix socket, where TLS protects nothing.
package smtpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/config"
	"homepost/smtpwire"
)

// Server serves the listener's sessions on any number of listeners.
type Server struct {
	cfg   *config.Config
	log   *slog.Logger
	srv   *smtp.Server
	group groupSync
	be    *Backend // the sessions' backend: Close waits for its Data calls

	sizeFix  [2][]byte    // EHLO's SIZE as go-smtp writes it, and as it is sent
	sessions atomic.Int32 // the user's sessions, and those logged in
	foreign  atomic.Int32 // other users' sessions not logged in (yet)
	mu       sync.Mutex
	closed   bool
	// authWait, slotWait and peerUID are the package's authWait,
	// slotWait and tcpPeerUID when the server was made: its sessions
	// read these, so that a test that changes the package's never races
	// with another test's sessions still running.
	authWait time.Duration
	slotWait time.Duration
	peerUID  func(net.Conn) (int, error)
	// conns are the sessions' connections still open, closed by Close
	// once its wait is over; serving counts the sockets the server
	// serves (Service.serve). A server with neither is idle.
	conns   map[*conn]struct{}
	serving int
	// listeners are those Serve serves; accepting counts the Serve
	// calls not yet returned, which Close waits for before it waits
	// for the sessions.
	listeners []*listener
	accepting sync.WaitGroup
}

// idle reports whether the server serves no socket and no session.
func (s *Server) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serving == 0 && len(s.conns) == 0
}

// track counts a socket that the server begins (1) or ends (-1) to
// serve.
func (s *Server) track(n int) {
	s.mu.Lock()
	s.serving += n
	s.mu.Unlock()
}

// New builds a server for cfg's [smtp] table. log receives one line per
// queued message and per refused client; nil discards them.
func New(cfg *config.Config, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, group: newGroupSync(), authWait: authWait, slotWait: slotWait, peerUID: tcpPeerUID}
	be := &Backend{Config: cfg, Log: log, Sync: s.group, NoWake: true, MaxMessageBytes: int64(cfg.SMTP.MaxMessageSize)}
	s.be = be
	srv := smtp.NewServer(be)
	srv.Domain = cfg.Hostname
	srv.EnableSMTPUTF8 = true
	// The session holds a message to the limit itself
	// (Backend.MaxMessageBytes), in MAIL's SIZE, DATA and BDAT alike,
	// so that every refusal names the limit and is logged; go-smtp's
	// own checks (which refuse a message of exactly its limit in DATA,
	// and answer in words of their own) are given a limit never
	// reached, and conn.Write announces the real one in EHLO.
	if cfg.SMTP.MaxMessageSize > 0 {
		srv.MaxMessageBytes = goSMTPNoLimit
		s.sizeFix = [2][]byte{
			fmt.Appendf(nil, "SIZE %d\r\n", srv.MaxMessageBytes),
			fmt.Appendf(nil, "SIZE %d\r\n", cfg.SMTP.MaxMessageSize),
		}
	}
	srv.MaxRecipients = maxRecipients
	// A message line may be of any length (HTML from a web application,
	// a base64 attachment without line breaks: sendmail and BDAT take
	// it) and is streamed in constant memory; only a command line is
	// held whole, and limited to maxLine. go-smtp would apply its limit
	// to both, so it is given none, and the session's smtpwire.Reader,
	// which knows the message's bytes from the commands', limits the
	// commands (Reader.LimitCommands).
	srv.MaxLineLength = 0
	// No TLS on loopback: AUTH PLAIN and LOGIN are offered in clear
	// text, on the listener's addresses only (Session.AuthMechanisms).
	srv.AllowInsecureAuth = true
	// Idle time is enforced per read by conn; a write that blocks this
	// long means the client is gone.
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = errLog{log}
	s.srv = srv
	return s
}

// maxLine bounds a command line, its CR LF included (the lines of a
// message are not limited).
const maxLine = 1 << 20

// goSMTPNoLimit is the message size limit go-smtp is given: more than
// SIZE can name (go-smtp parses it as 32 bits) and than a DATA
// transfer could bring before the session's own limit stops it.
const goSMTPNoLimit = 1 << 62

// maxRecipients bounds the recipients of one transaction.
const maxRecipients = 1000

// Serve accepts sessions on l until Close. On a TCP listener the
// peer's owner is looked up in the kernel's socket table; on a Unix
// socket it is taken from the socket's credentials.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	ln := &listener{Listener: l, s: s}
	s.listeners = append(s.listeners, ln)
	s.accepting.Add(1)
	s.mu.Unlock()
	defer s.accepting.Done()
	err := s.srv.Serve(ln)
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	return err
}

// Close stops accepting, answers the sessions that wait for a command
// 421 and ends them, lets those within a message end it for up to wait,
// then answers the rest 421 and closes them. A message cut off before
// its end is not queued; one queued whose 250 the client did not get
// may come again (as with any SMTP server).
func (s *Server) Close(wait time.Duration) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	listeners := s.listeners
	s.mu.Unlock()
	// The sockets are closed and every Serve has returned before
	// go-smtp's Shutdown waits for the sessions: its Serve counts a
	// session after Accept in a WaitGroup that Shutdown waits on, and a
	// count begun while the wait runs is one the wait may miss.
	for _, l := range listeners {
		l.Close()
	}
	s.accepting.Wait()
	// Each session that waits for a command is answered 421 at once
	// (RFC 5321 3.8) and ends; one within a message may end it for up
	// to wait, and is then answered 421 and ends (conn.rawRead).
	for _, c := range s.open() {
		c.stop(&c.stopping)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil
		for _, c := range s.open() {
			c.stop(&c.expired)
		}
		// The replies are written at once; a client that does not
		// read them is not waited for long.
		for end := time.Now().Add(replyWait); len(s.open()) > 0 && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
	}
	// go-smtp's Close after its Shutdown closes nothing: the sessions
	// still open are closed here.
	for _, c := range s.open() {
		c.Close()
	}
	// A message cut off here is given up in its session's Data, which
	// removes its draft from outbox/tmp; a BDAT transfer's runs in a
	// goroutine of go-smtp's that the session's end does not wait for,
	// and that may not even have begun. The agent may exit once Close
	// returns, and a draft it left would lie in tmp/ until the cleanup
	// of abandoned files, 36 hours on: wait until every Data has
	// returned, and let none begin from now on.
	s.be.Settle(settleWait)
	return err
}

// open returns the sessions' connections still open.
func (s *Server) open() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	open := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		open = append(open, c)
	}
	return open
}

// replyWait bounds Close's wait for the sessions whose messages it cut
// off to write their 421 and end, past the grace it gives them.
const replyWait = time.Second

// settleWait bounds Close's wait for the transfers it cut off to give
// up their drafts (Backend.Settle): a read of a closed socket fails at
// once, so only a disk that hangs makes it wait that long.
const settleWait = 5 * time.Second

// listener hands out wrapped connections and turns away those past the
// session limit with 421.
type listener struct {
	net.Listener
	s *Server

	closeOnce sync.Once
	closeErr  error
}

// Close closes the socket once: Close and go-smtp's Shutdown both close
// it.
func (l *listener) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.Listener.Close() })
	return l.closeErr
}

// Sessions of other users that have not logged in are counted apart from
// the user's, so that they can never take the user's slots: at most
// foreignMax of them at once, and each must log in within authWait of
// its connection (commands such as NOOP or RSET do not extend it), or
// it is closed with 421. One that logs in takes one of the user's
// slots, if one is free.
func foreignMax(maxSessions int) int { return max(1, maxSessions/2) }

// authWait is how long a session of another user has to log in.
var authWait = 30 * time.Second

// tcpPeerUID looks up the owner of a TCP client's socket (a test may
// replace it).
var tcpPeerUID = PeerUID

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		s := l.s
		// Who the peer is, before anything is read (peer.go).
		tcp, trusted, uid, uidErr := s.identify(c)
		pool, limit, which := &s.sessions, s.cfg.SMTP.MaxSessions, "max_sessions"
		if !trusted {
			pool, limit, which = &s.foreign, foreignMax(limit), "max_foreign_sessions"
		}
		if int(pool.Add(1)) > limit && !(trusted && s.awaitSlot(pool, limit)) {
			pool.Add(-1)
			s.log.Warn("smtp: session refused: too many at once", which, limit, "peer", c.RemoteAddr().String(), "peer_uid", uidString(uid, uidErr))
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("421 4.3.2 Too many sessions at once, try again later\r\n"))
			c.Close()
			continue
		}
		wc := s.wrap(c, tcp, trusted, pool)
		wc.peerUID = uidString(uid, uidErr)
		return wc, nil
	}
}

// slotWait is how long a session of the user waits for a free slot
// when max_sessions are taken, before it is answered 421. A variable for
// the tests.
var slotWait = 20 * time.Second

// awaitSlot waits, for a session of the user counted in pool already
// and over limit, until pool is within limit again (a session ended),
// for up to slotWait; false when none freed or the server closes. While
// it waits, this listener accepts nobody else: the clients after it
// wait in the socket's queue, as at a Postfix whose smtpd processes are
// all busy. So a pool of connections one larger than the limit (a web
// application's) has its extra connection served late, not refused
// with its mail. Another user's client is not waited for: it could
// hold the listener up.
func (s *Server) awaitSlot(pool *atomic.Int32, limit int) bool {
	deadline := time.Now().Add(s.slotWait)
	for time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return false
		}
		if int(pool.Load()) <= limit {
			return true
		}
	}
	return false
}

// identify says whether c is a TCP connection and whether its peer is
// the user, and gives the peer's uid (-1 and why when it is unknown).
func (s *Server) identify(c net.Conn) (tcp, trusted bool, uid int, err error) {
	switch c.LocalAddr().Network() {
	case "tcp", "tcp4", "tcp6":
		uid, err = s.peerUID(c)
		trusted = err == nil && uid == s.cfg.UID
		if !trusted {
			s.log.Info("smtp: client of another user: AUTH required", "peer", c.RemoteAddr().String(), "peer_uid", uidString(uid, err))
		}
		return true, trusted, uid, err
	default:
		uid, err = unixPeerUID(c)
		return false, err == nil && (uid == s.cfg.UID || uid == 0), uid, err
	}
}

// wrap wraps the connection of a session counted in pool.
func (s *Server) wrap(c net.Conn, tcp, trusted bool, pool *atomic.Int32) *conn {
	wc := &conn{Conn: c, idle: s.cfg.SMTP.IdleTimeout.Duration, s: s, pool: pool, tcp: tcp, trusted: trusted}
	wc.release = func() { wc.mu.Lock(); wc.pool.Add(-1); wc.mu.Unlock() }
	if !trusted {
		wc.authBy.Store(time.Now().Add(s.authWait).UnixNano())
	}
	wc.io = io.ReadWriter(c)
	// Only the user's own session spins (see spinWait): a client of
	// another user that trickles its bytes must not keep a core busy.
	if r := newSockIO(c, func() bool { return wc.trusted && s.sessions.Load() == 1 }); r != nil {
		wc.io = r
	}
	wc.w = &smtpwire.Writer{W: wc.io, Domain: s.cfg.Hostname}
	wc.q = smtpwire.NewReader(readFunc(wc.rawRead), wc.w, maxLine)
	wc.w.Hold = wc.q.Pending
	wc.q.LimitCommands()
	// A bare LF is read as CR LF, as sendmail -bs does and as Postfix
	// does for a client of its own network: a script writing to the
	// socket with printf or nc ends its message with ".\n". SMTP
	// smuggling (a second message hidden behind a bare LF) needs a mail
	// server in front that passes on what a stranger sent; here the
	// clients are the user's own programs and those given the user's
	// secret, and the relay client sends every line ending as CR LF.
	wc.q.ReadBareLF()
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*conn]struct{}{}
	}
	s.conns[wc] = struct{}{}
	s.mu.Unlock()
	return wc
}

// conn is a session's connection: an idle timeout on every read (so a
// long message that keeps coming is not cut off, but a silent client
// is), the dialogue adjusted by package smtpwire as sendmail -bs has
// it (bare names in MAIL and RCPT, go-smtp's replies spelled right), and
// who the peer is.
type conn struct {
	net.Conn
	idle    time.Duration
	tcp     bool             // a TCP connection (else the Unix socket)
	trusted bool             // the peer is the user: no AUTH needed
	peerUID string           // the peer's uid for the log, or why it is unknown
	io      io.ReadWriter    // the socket's reads and writes (sockIO)
	q       *smtpwire.Reader // the command stream, bare names marked
	w       *smtpwire.Writer // the replies, spelled right
	once    sync.Once
	release func()

	s      *Server
	mu     sync.Mutex    // pool
	pool   *atomic.Int32 // the count the session is in
	authBy atomic.Int64  // a session of another user: when it must have logged in (UnixNano); 0: none

	sess     *session    // the session on the connection
	read     atomic.Bool // something was read
	noLogin  atomic.Bool // a read timed out at the deadline to log in
	closeAft atomic.Bool // close once the next reply is written
	// stopping: the server closes (Close): a session waiting for a
	// command is answered 421 and ends. expired: the grace for a
	// message in progress is over too. cut: the session's message was
	// cut off so, and is answered errShutdownCut. stopReply: the
	// session was answered errShuttingDown.
	stopping  atomic.Bool
	expired   atomic.Bool
	cut       atomic.Bool
	stopReply atomic.Bool
	// chunkIdle: the client fell silent within a BDAT chunk and was
	// answered so (Read); the transfer's Data, which sees only go-smtp's
	// reset, refuses the message with the same reply.
	chunkIdle atomic.Bool
	// gone: a read found the client's end closed (or the connection
	// broken): a transfer cut off then is logged as the client's going
	// away (session.aborted).
	gone atomic.Bool
}

// peer names the client for the log: its address on TCP, the socket's
// path on the Unix socket (whose clients have no address).
func (c *conn) peer() string {
	if c.tcp {
		return c.RemoteAddr().String()
	}
	return "unix:" + c.LocalAddr().String()
}

// authenticated moves a session of another user that has logged in from
// the foreign sessions to the user's, and lifts its deadline to log in.
// It is false when the user's sessions are all taken.
func (c *conn) authenticated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pool == &c.s.sessions {
		return true
	}
	if int(c.s.sessions.Add(1)) > c.s.cfg.SMTP.MaxSessions {
		c.s.sessions.Add(-1)
		return false
	}
	c.pool.Add(-1)
	c.pool = &c.s.sessions
	c.authBy.Store(0)
	return true
}

// deadline caps t at the time by which a session of another user must
// have logged in, plus grace.
func (c *conn) deadline(t time.Time, grace time.Duration) time.Time {
	if by := c.authBy.Load(); by != 0 && (t.IsZero() || t.UnixNano() > by+int64(grace)) {
		return time.Unix(0, by+int64(grace))
	}
	return t
}

// SetWriteDeadline is go-smtp's, capped by the deadline to log in (and
// the 5 seconds its 421 may take): a client of another user that does
// not read its replies is not kept past it.
func (c *conn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.deadline(t, 5*time.Second))
}

// Read is the session's command stream. A client silent past the idle
// time within a BDAT chunk is answered as within DATA (one 421 naming
// the timeout, then the end of the session) rather than with the
// Reader's 451 for the chunk, after which go-smtp would read on and
// answer the same silence again as between commands.
func (c *conn) Read(p []byte) (int, error) {
	n, err := c.q.Read(p)
	if err == smtpwire.ErrChunkTimeout {
		c.chunkIdle.Store(true)
		c.closeAft.Store(true)
		err = idleInMessage(c.idle)
		if c.cut.Load() {
			err = errShutdownCut
		}
	}
	return n, err
}

// The replies of a server that stops (Close): to a session between
// commands, and to one whose message it cut off. 421 (RFC 5321 3.8):
// the client tries again later, as after any 4xx, and expects the
// session's end.
var (
	errShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down"}
	errShutdownCut  = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down: message transfer aborted, nothing queued"}
)

// errStop is what a read returns once the server's stop reaches the
// session (rawRead). It is a timeout for go-smtp, which answers one
// with a 421 of its own and ends the session; conn.Write gives that
// 421 the stop's words.
type errStop struct{}

func (errStop) Error() string   { return "the listener stops" }
func (errStop) Timeout() bool   { return true }
func (errStop) Temporary() bool { return true }

// stop sets flag (stopping or expired) and wakes a read under way
// (rawRead looks at the flags once its deadline is set, so a read
// that begins meanwhile sees them).
func (c *conn) stop(flag *atomic.Bool) {
	flag.Store(true)
	c.Conn.SetReadDeadline(time.Unix(1, 0))
}

// idleInMessage is the reply to a client silent for d within a
// message, DATA's or a BDAT chunk's; the session ends with it.
func idleInMessage(d time.Duration) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
		Message: fmt.Sprintf("timeout: no data for %s: nothing queued, closing", d)}
}

// rawRead reads from the socket, allowing the idle time for it. It
// notes a read that timed out at the deadline to log in (not an idle
// client: one that did not log in), and ends a session whose client
// begins with a TLS handshake: it was set to TLS on a port without it,
// and would wait for a reply it cannot read until the idle timeout.
//
// Once the server stops, a read for a command ends the session with
// 421, and so does one within a message once the grace is over (the
// message cut off); a read within a message until then goes on.
func (c *conn) rawRead(p []byte) (int, error) {
	var n int
	var err error
	for {
		var until time.Time
		if c.idle > 0 {
			until = c.deadline(time.Now().Add(c.idle), 0)
			c.Conn.SetReadDeadline(until)
		} else if c.authBy.Load() != 0 {
			until = c.deadline(time.Time{}, 0)
			c.Conn.SetReadDeadline(until)
		} else if c.stopping.Load() {
			// No idle timeout: the deadline that woke the read is
			// lifted.
			c.Conn.SetReadDeadline(time.Time{})
		}
		// After the deadline is set: a stop that begins from here on
		// wakes the read (conn.stop).
		if c.stopping.Load() {
			if !c.q.InTransfer() {
				c.stopReply.Store(true)
				return 0, errStop{}
			}
			if c.expired.Load() {
				c.cut.Store(true)
				return 0, errStop{}
			}
		}
		n, err = c.io.Read(p)
		var ne net.Error
		if n == 0 && err != nil && errors.As(err, &ne) && ne.Timeout() && c.stopping.Load() && (until.IsZero() || time.Now().Before(until)) {
			continue // woken by the stop: look again
		}
		break
	}
	if ne := net.Error(nil); err != nil && errors.As(err, &ne) && ne.Timeout() {
		if by := c.authBy.Load(); by != 0 && time.Now().UnixNano() >= by {
			c.noLogin.Store(true)
		}
	} else if err != nil {
		c.gone.Store(true)
	}
	if n > 0 && c.read.CompareAndSwap(false, true) && isTLSHello(p[:n]) {
		c.s.log.Warn("smtp: the client speaks TLS: set it to no encryption (plain SMTP); session closed",
			"peer", c.peer(), "peer_uid", c.peerUID)
		return 0, io.EOF
	}
	return n, err
}

// isTLSHello reports whether b begins as a TLS handshake record (a
// ClientHello: content type 22, version 3.x), which no SMTP command
// does.
func isTLSHello(b []byte) bool {
	return len(b) >= 2 && b[0] == 0x16 && b[1] == 0x03
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// go-smtp's replies that the listener words its own way (conn.Write).
var (
	idleReply    = []byte("421 4.4.2 Idle timeout, bye bye")
	tooLongReply = []byte("500 5.4.0 Too long line, closing connection")
)

func (c *conn) Write(p []byte) (int, error) {
	out := p
	if f := c.s.sizeFix; f[0] != nil && bytes.Contains(p, f[0]) {
		out = bytes.Replace(p, f[0], f[1], 1)
	} else if len(p) > 0 && (p[0] == '4' || p[0] == '5') {
		out = c.reword(p)
	}
	if _, err := c.w.Write(out); err != nil {
		return 0, err
	}
	if c.closeAft.Load() && bytes.HasSuffix(p, []byte("\n")) {
		// The reply said the session ends: go-smtp, which would
		// read on, finds the connection closed and ends it.
		c.w.Flush()
		c.Conn.Close()
	}
	return len(p), nil
}

// reword gives go-smtp's replies for a session it ends the listener's
// words, which say why, and logs the session's end.
func (c *conn) reword(p []byte) []byte {
	switch {
	case bytes.HasPrefix(p, idleReply) && c.cut.Load():
		// Between two BDAT chunks: the transfer's Data logs it.
		return replyLine(errShutdownCut)
	case bytes.HasPrefix(p, idleReply) && c.stopReply.Load():
		args := []any{"peer", c.peer(), "peer_uid", c.peerUID}
		if s := c.sess; s != nil && s.open.Load() {
			args = append(args, "from", s.from, "nrcpt", len(s.rcpts))
		}
		c.s.log.Info("smtp: session closed as the listener stops", append(args, "reply", replyText(errShuttingDown))...)
		return replyLine(errShuttingDown)
	case bytes.HasPrefix(p, idleReply) && c.noLogin.Load():
		c.s.log.Warn("smtp: client of another user did not log in in time: session closed",
			"peer", c.peer(), "peer_uid", c.peerUID, "wait", c.s.authWait.String())
		return fmt.Appendf(nil, "421 4.7.0 no login within %s: closing (%s)\r\n", waitText(c.s.authWait), c.s.loginHint())
	case bytes.HasPrefix(p, idleReply):
		return fmt.Appendf(nil, "421 4.4.2 timeout: no command for %s, closing\r\n", c.idle)
	case bytes.HasPrefix(p, tooLongReply):
		c.s.log.Warn("smtp: command line too long: session closed", "peer", c.peer(), "peer_uid", c.peerUID, "limit", maxLine)
		return fmt.Appendf(nil, "500 5.5.2 command line longer than %s, closing connection\r\n", sizeText(maxLine))
	}
	return p
}

// replyText is e as a reply line says it, without its line end.
func replyText(e *smtp.SMTPError) string {
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
}

// replyLine is e as a reply line.
func replyLine(e *smtp.SMTPError) []byte { return []byte(replyText(e) + "\r\n") }

// loginHint tells a client of another user how to log in. It names the
// user (the login name is no secret) but not the secret's file: the
// reply goes to other users' programs, and the layout of the user's
// home directory is not theirs to learn; homepost check shows the user
// the secret and its file.
func (s *Server) loginHint() string {
	return fmt.Sprintf("log in as %s with the secret that `homepost check` shows to %s", s.cfg.User, s.cfg.User)
}

// waitText says d in words: "30 seconds", or d itself when it is not
// a whole number of seconds.
func waitText(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%d seconds", d/time.Second)
	}
	return d.String()
}

// sizeText says a byte count in the units of the configuration: "20
// MiB", "512 KiB", or bytes.
func sizeText(n int64) string {
	switch {
	case n > 0 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n > 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n > 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Close ends the session's connection, the replies kept back written
// first (smtpwire.Writer.Hold): go-smtp closes after its last reply
// (221, 421) without reading again. It does not wait for a write under
// way, which a client that does not read holds up until its deadline.
func (c *conn) Close() error {
	c.w.TryFlush()
	c.once.Do(c.release)
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// errLog sends go-smtp's internal errors (a client that vanished) to
// the log at debug level: they are not the user's concern.
type errLog struct{ log *slog.Logger }

func (e errLog) Printf(format string, v ...any) {
	e.log.Debug("smtp: " + fmt.Sprintf(format, v...))
}
func (e errLog) Println(v ...any) { e.log.Debug("smtp: " + fmt.Sprint(v...)) }
