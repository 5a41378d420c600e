package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"homepost/addr"
	"homepost/config"
	"homepost/outbox"
	"homepost/smtpwire"
	"homepost/submit"
)

// Backend is go-smtp's backend for homepost: each transaction is queued
// through submit. The listener and sendmail -bs (package bsmtp) share
// it. A session on a connection that is not the listener's own (the
// standard input of sendmail -bs) is the user's by construction.
type Backend struct {
	Config *config.Config
	// Log gets one line per queued message; nil logs nothing.
	Log *slog.Logger
	// Sync replaces each message's own fsyncs of its queue file and of
	// outbox/new (group commit); one that is an outbox.Sealer gets
	// sealed queue files. nil: each commit fsyncs them itself, in
	// sendmail's order.
	Sync outbox.Syncer
	// NoWake leaves delivery to the agent that watches the outbox, or
	// to the caller, who wakes it once when Queued is set.
	NoWake bool
	// Queued is set once a message is queued.
	Queued atomic.Bool
	// MaxMessageBytes, when not 0, is the largest message taken, in
	// MAIL's SIZE and in the bytes of DATA or BDAT.
	MaxMessageBytes int64
	// running counts the calls of Data under way: a BDAT transfer's
	// runs in a goroutine of go-smtp's, which may outlive the session
	// and may not have begun when its session ends. settled is set by
	// Settle: a Data that begins after it takes nothing. Both are
	// guarded by mu, so that a Data either is counted before Settle
	// looks or sees settled.
	mu      sync.Mutex
	running int
	settled bool
}

// Settle waits, up to d, until no message is being received (after the
// sessions end, until the transfers they cut off have removed their
// drafts), and from then on lets no transfer begin: go-smtp starts a
// BDAT transfer's Data in a goroutine that may run only after the
// session's end, and one counted nowhere would create its draft (and
// could even queue its message) after the listener's Close returned,
// when the process may exit; a draft it left would lie in outbox/tmp
// until the cleanup of abandoned files. Nothing is lost: the session
// of such a transfer has ended, its client got no 250.
func (b *Backend) Settle(d time.Duration) {
	b.mu.Lock()
	b.settled = true
	b.mu.Unlock()
	for end := time.Now().Add(d); b.busy() && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
}

// begin counts a Data that begins; false once Settle has begun.
func (b *Backend) begin() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.settled {
		return false
	}
	b.running++
	return true
}

// end counts a Data that ends.
func (b *Backend) end() {
	b.mu.Lock()
	b.running--
	b.mu.Unlock()
}

// busy reports whether a Data is under way.
func (b *Backend) busy() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running > 0
}

// NewSession starts a session; whether the peer must authenticate comes
// from the listener's connection.
func (b *Backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{b: b, trusted: true}
	if wc, ok := c.Conn().(*conn); ok {
		// AUTH is offered on every address of the listener: a
		// program set up with an SMTP user and password logs in
		// whenever it is offered, and stops if it is not.
		s.trusted, s.authOffered, s.conn = wc.trusted, true, wc
		s.helo = c.Hostname()
		wc.sess = s
	}
	return s, nil
}

// session is one SMTP session; each transaction queues one message.
type session struct {
	b           *Backend
	trusted     bool // the peer is the user
	authOffered bool // AUTH PLAIN and LOGIN are offered (the listener, not sendmail -bs)
	authed      bool
	authFails   int
	conn        *conn  // the listener's connection; nil for sendmail -bs
	helo        string // the client's EHLO or HELO name

	from  string
	rcpts []string
	utf8  bool        // the transaction's MAIL declared SMTPUTF8
	open  atomic.Bool // a transaction is open: counted in receiving
}

// receiving counts the transactions open in this process's sessions
// (MAIL given, the message not yet queued or given up): mail that is on
// its way. The agent waits a moment for it before it delivers a batch
// in a stream (Receiving).
var receiving atomic.Int64

// Receiving reports whether a message is being received over SMTP by
// this process at the moment.
func Receiving() bool { return receiving.Load() > 0 }

// lastEnd is when a transaction last ended, in nanoseconds since epoch0
// (monotonic).
var lastEnd atomic.Int64

var epoch0 = time.Now()

// streamGap is how long after a transaction ended the listener still
// counts as in a stream: a client that sends one message after another
// begins the next a fraction of a millisecond after the last 250 (0.05
// to 0.3 ms over loopback, measured). The agent's last batch of a stream
// waits for the stream to end (agent.gather), and a delivery's syncs
// linger for a session's while it goes on (safeio.Group.SyncSoon), so a
// longer gap is paid after every stream: with 5 ms, the last copies of
// a block of 250 messages over eight connections reached the Maildir 8
// to 11% of the block's time after its last 250; with 1 ms (and the
// agent's gatherStep 2 ms instead of 4, gatherMin 16 instead of 64), 5.5
// to 5.8%.
const streamGap = 1 * time.Millisecond

// Streaming reports whether this process's listener is in a stream of
// mail: a transaction open, or one ended less than streamGap ago.
func Streaming() bool {
	return receiving.Load() > 0 || time.Since(epoch0)-time.Duration(lastEnd.Load()) < streamGap
}

// transaction marks the session's transaction open or closed. (A BDAT
// transfer runs Data in a goroutine of go-smtp's; a session that ends
// meanwhile closes it from another.)
func (s *session) transaction(open bool) {
	if s.open.CompareAndSwap(!open, open) {
		if open {
			receiving.Add(1)
		} else {
			lastEnd.Store(int64(time.Since(epoch0)))
			receiving.Add(-1)
		}
	}
}

// errAuthRequired is the reply to a client of another user that has not
// authenticated. It says what the client can do: the login is open to
// it, with the user's secret.
var errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
	Message: "Authentication required: this listener takes mail from its user's own programs; others must AUTH with the user's secret"}

func (s *session) allowed() bool { return s.trusted || s.authed }

// errUndeclaredUTF8 refuses an address in UTF-8 in a transaction whose
// MAIL did not declare SMTPUTF8 (RFC 6531, 3.4), in Postfix's words: a
// server on the way may not carry it.
var errUndeclaredUTF8 = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7},
	Message: "Must declare SMTPUTF8 to send unicode address"}

// ascii reports whether s is all ASCII.
func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if !s.allowed() {
		return errAuthRequired
	}
	if s.conn != nil && s.conn.stopping.Load() {
		// A MAIL that the client sent before it read the 421 of the
		// stop (pipelined after its last message): the session ends.
		s.conn.closeAft.Store(true)
		s.conn.s.log.Info("smtp: session closed as the listener stops", "peer", s.conn.peer(), "peer_uid", s.conn.peerUID, "reply", replyText(errShuttingDown))
		return errShuttingDown
	}
	if s.open.Load() {
		// A second MAIL in an open transaction: refused, as RFC 5321
		// 4.1.4 has it and Postfix words it. go-smtp took it, keeping
		// the recipients given so far for the new sender.
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Error: nested MAIL command"}
	}
	if max := s.b.MaxMessageBytes; max > 0 && opts != nil && s.mailSize(opts.Size) > max {
		return s.refuse(s.tooLarge(), from, 0)
	}
	s.utf8 = opts != nil && opts.UTF8
	// An address that is not valid UTF-8 is not refused with
	// errUndeclaredUTF8, since declaring SMTPUTF8 would not make it an
	// address: addr.Parse refuses it below, as any address that cannot
	// be read, with 553 and 5.1.7 (for RCPT 5.1.3), RFC 3463's "bad
	// sender's (destination mailbox) address syntax", with or without
	// SMTPUTF8. Postfix answers "500 5.5.2 Error: bad UTF-8 syntax"
	// instead, to any command line that is not UTF-8; here the reply
	// names what is wrong, the address, and a client takes either 5xx
	// as a refusal of that address at once, where accepting it meant a
	// bounce from the smarthost later.
	if !s.utf8 && !ascii(from) && utf8.ValidString(from) {
		return s.refuse(errUndeclaredUTF8, from, 0)
	}
	if from != "" {
		// go-smtp hands the path over without the quotes of a quoted
		// local part ("a b"@host): they are put back.
		a, err := addr.Parse(addr.Requote(from))
		if err != nil {
			return s.refuse(&smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "bad sender address: " + oneLine(err.Error())}, from, 0)
		}
		from = s.qualify(a)
	}
	s.from = from
	s.transaction(true)
	return nil
}

// mailSize is MAIL's SIZE as the client gave it: go-smtp is shown a
// SIZE of 4 GiB or more as smtpwire.SizeCap, and the connection's
// Reader keeps the real one.
func (s *session) mailSize(size int64) int64 {
	if size == smtpwire.SizeCap && s.conn != nil {
		if n, ok := s.conn.q.MailSize(); ok {
			return n
		}
	}
	return size
}

// qualify gives a bare name (smtpwire.Reader marked it) the host name,
// as Postfix's append_at_myorigin does; the forwarder resolves the
// address at delivery.
func (s *session) qualify(a string) string {
	if local, ok := smtpwire.Bare(a); ok {
		return addr.Qualify(local, s.b.Config.Hostname)
	}
	return a
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !s.allowed() {
		return errAuthRequired
	}
	// Not UTF-8: refused as a bad address below (see Mail).
	if !s.utf8 && !ascii(to) && utf8.ValidString(to) {
		return errUndeclaredUTF8
	}
	a, err := addr.Parse(addr.Requote(to))
	if err != nil {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "bad recipient address: " + oneLine(err.Error())}
	}
	s.rcpts = append(s.rcpts, s.qualify(a))
	return nil
}

// Data queues the message. The reply names the queue ID, as Postfix's
// "250 2.0.0 Ok: queued as ID" (go-smtp sends a 250 "error" as is).
func (s *session) Data(r io.Reader) error {
	if !s.allowed() {
		return errAuthRequired
	}
	// The transaction ends with its Data, unless a reset cut the
	// transfer off (below).
	cutOff := false
	defer func() {
		if !cutOff {
			s.transaction(false)
		}
	}()
	if !s.b.begin() {
		// The listener has been closed (Settle): the session
		// that began this transfer is over.
		return errAborted
	}
	defer s.b.end()
	if s.b.MaxMessageBytes > 0 {
		r = &sizeLimit{r: r, left: s.b.MaxMessageBytes}
	}
	// The envelope is this transaction's for as long as Data runs: a
	// BDAT transfer's Data runs in a goroutine of go-smtp's, which may
	// begin it only after the client's RSET (after an empty chunk,
	// which nothing waits for Data to take), but go-smtp, as patched
	// in third_party/go-smtp, resets the session (and lets the next
	// MAIL and RCPT change the envelope) only once a transfer it cut
	// off has returned from Data.
	from, rcpts := s.from, s.rcpts
	sender := from
	if sender == "" {
		sender = "<>"
	}
	cfg := s.b.Config
	res, err := submit.Submit(cfg, submit.Options{
		Sender: sender, Recipients: rcpts, IgnoreDots: true,
		NoWake: s.b.NoWake, Sync: s.b.Sync, ReceivedFrom: s.receivedFrom(),
	}, r)
	if err != nil {
		// A BDAT transfer cut off by RSET (or a new EHLO, a chunk
		// over the size limit, the session's end): the reset (or
		// Logout) ends the transaction. (go-smtp, as patched in
		// third_party/go-smtp, resets the session only after this
		// Data returns; one cut off by the session's end may run
		// after its Logout. No one reads what it returns: go-smtp
		// sends it to this transfer's own result channel, not to
		// the next transfer's.)
		cutOff = errors.Is(err, smtp.ErrDataReset)
		e := s.replyFor(err)
		if e == errAborted {
			return s.aborted(err, from, len(rcpts))
		}
		return s.refuse(e, from, len(rcpts))
	}
	s.b.Queued.Store(true)
	if s.b.Log != nil {
		args := []any{"id", res.ID, "from", res.Sender, "nrcpt", len(res.Recipients), "via", "smtp"}
		if s.conn != nil {
			// Which program sent it, when one floods or misbehaves.
			args = append(args, "peer", s.conn.peer(), "peer_uid", s.conn.peerUID)
		}
		s.b.Log.Info("queued", args...)
	}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + res.ID}
}

// sizeLimit fails a message with more than left bytes.
type sizeLimit struct {
	r    io.Reader
	left int64
}

func (l *sizeLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.left -= int64(n); l.left < 0 {
		return 0, smtp.ErrDataTooLarge
	}
	return n, err
}

// receivedFrom is the from clause of the Received field of a message
// taken from the listener's client, as Postfix's: its EHLO name, then
// its address ("from web.example (127.0.0.1)", or "(unix socket)"),
// which tell which program sent it. The client's uid is not in it, as
// neither Postfix nor sendmail put one there for an SMTP client: the
// field leaves with mail relayed to the smarthost, and the world has
// no use for local uids. The queue ID in the field finds the log line
// ("queued"), which names the uid. sendmail -bs puts no field, as
// sendmail puts none.
func (s *session) receivedFrom() string {
	if s.conn == nil {
		return ""
	}
	client := "unix socket"
	if ta, ok := s.conn.RemoteAddr().(*net.TCPAddr); ok && s.conn.tcp {
		client = ta.IP.String()
	}
	return fmt.Sprintf("from %s (%s)", heloText(s.helo), client)
}

// heloText is a client's EHLO name as a header may show it: printable
// ASCII other than parentheses and white space (a name that is not a
// domain would end the field's comment or continue it), at most 255
// bytes; "unknown" when none is left.
func heloText(h string) string {
	b := []byte(h)
	if len(b) > 255 {
		b = b[:255]
	}
	for i, c := range b {
		if c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == '\\' {
			b[i] = '?'
		}
	}
	if len(b) == 0 {
		return "unknown"
	}
	return string(b)
}

// tooLarge is the reply to a message over the limit; it names the limit
// and the key that sets it.
func (s *session) tooLarge() *smtp.SMTPError {
	return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: fmt.Sprintf("message larger than the %s [smtp] max_message_size", sizeText(s.b.MaxMessageBytes))}
}

// refuse logs a transaction that the listener refuses, with the client,
// the envelope and the reply, as Postfix's "NOQUEUE: reject" lines do:
// the program that sent it may keep no log of its own. A failure of
// the listener itself (it cannot queue) is an error; a client that went
// away is not a refusal.
func (s *session) refuse(e *smtp.SMTPError, from string, nrcpt int) error {
	if s.b.Log == nil || s.conn == nil {
		return e
	}
	level, what := slog.LevelWarn, "smtp: message refused"
	switch {
	case e.Code == 451 && e.EnhancedCode == smtp.EnhancedCode{4, 4, 2}:
		// smtpwire's, for a BDAT chunk cut short, which go-smtp has
		// answered already.
		level, what = slog.LevelInfo, "smtp: message transfer aborted"
	case e == errShutdownCut:
		level, what = slog.LevelInfo, "smtp: message transfer aborted as the listener stops"
	case e.Code == 451:
		level, what = slog.LevelError, "smtp: cannot queue a message"
	}
	s.b.Log.Log(context.Background(), level, what, "peer", s.conn.peer(), "peer_uid", s.conn.peerUID,
		"from", from, "nrcpt", nrcpt, "reply", replyText(e))
	return e
}

// aborted logs a transfer that the client ended before the end of its
// message, with how, as Postfix's "lost connection after DATA": not
// with the reply, which it returns (go-smtp writes it), since no client
// reads it. A client gone has closed its end (conn.gone); a BDAT
// transfer reset by RSET, EHLO or QUIT between chunks is answered by
// the reply to that command, not by this one.
func (s *session) aborted(err error, from string, nrcpt int) error {
	if s.b.Log == nil || s.conn == nil {
		return errAborted
	}
	reason := "the client closed the connection within the message"
	if !s.conn.gone.Load() && errors.Is(err, smtp.ErrDataReset) {
		reason = "the client ended the transfer before its last chunk (RSET, EHLO or QUIT)"
	}
	s.b.Log.Info("smtp: message transfer aborted", "peer", s.conn.peer(), "peer_uid", s.conn.peerUID,
		"from", from, "nrcpt", nrcpt, "reason", reason)
	return errAborted
}

// errAborted is the reply to a transfer that the client reset or cut
// off by going away, or that the listener's end cut off.
var errAborted = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "message transfer aborted: nothing queued"}

// replyFor turns a failure to queue into the reply to the end of DATA.
func (s *session) replyFor(err error) *smtp.SMTPError {
	var te *outbox.TempError
	var de *submit.DataError
	var ne net.Error
	var se *smtp.SMTPError
	switch {
	case s.conn != nil && s.conn.cut.Load():
		// The listener stopped and cut the message off, in DATA
		// or in a BDAT transfer (conn.rawRead): the session ends
		// with the reply (conn.Write), which a BDAT transfer's
		// client got already (conn.Read, conn.reword).
		s.conn.closeAft.Store(true)
		return errShutdownCut
	case errors.Is(err, smtp.ErrDataTooLarge):
		return s.tooLarge()
	case errors.As(err, &ne) && ne.Timeout():
		// The client fell silent within the message: the session
		// ends with the reply (conn.Write).
		if s.conn != nil {
			s.conn.closeAft.Store(true)
		}
		return idleInMessage(s.b.Config.SMTP.IdleTimeout.Duration)
	case s.conn != nil && s.conn.chunkIdle.Load() && errors.Is(err, smtp.ErrDataReset):
		// The same within a BDAT chunk: conn.Read has answered it,
		// and go-smtp reset the transfer.
		return idleInMessage(s.conn.idle)
	case errors.Is(err, smtp.ErrDataReset), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		// The client is gone or reset the transfer, or the listener
		// closed the session (the agent stops): nothing was queued.
		return errAborted
	case errors.As(err, &se) && se.Code == 451:
		// smtpwire's, for a BDAT chunk cut short (go-smtp has
		// answered the chunk with it already).
		return se
	case errors.As(err, &de):
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "message refused: " + oneLine(err.Error())}
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		// The outbox's file system (or the user's quota) is full: RFC
		// 5321's 452, "insufficient system storage", with RFC 3463's
		// 4.3.1, "mail system full", as Postfix answers it.
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "insufficient system storage: cannot queue the message now: " + oneLine(err.Error())}
	case errors.As(err, &te):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot queue the message now: " + oneLine(err.Error())}
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot queue the message: " + oneLine(err.Error())}
}

func (s *session) Reset() {
	s.from, s.rcpts = "", nil
	s.transaction(false)
}

func (s *session) Logout() error {
	s.transaction(false)
	return nil
}

// AuthMechanisms offers PLAIN and LOGIN on the listener: a client of
// another user logs in with the secret, and the user's own programs,
// which need no login, may log in with anything (login). LOGIN is for
// the clients that know no other mechanism or pick it first (older
// Outlook, scanners and other devices, some PHP and Java mailers); it
// carries the same user name and password as PLAIN, and is checked
// alike.
func (s *session) AuthMechanisms() []string {
	if s.authOffered {
		return []string{sasl.Plain, sasl.Login}
	}
	return nil
}

// Auth checks AUTH PLAIN and AUTH LOGIN: the user's login name and the
// secret.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if !s.authOffered {
		return nil, errUnknownMechanism
	}
	switch mech {
	case sasl.Plain:
		return malformed{mech, sasl.NewPlainServer(func(identity, username, password string) error {
			return s.login(mech, identity, username, password)
		})}, nil
	case sasl.Login:
		return malformed{mech, &loginServer{check: func(username, password string) error {
			return s.login(mech, "", username, password)
		}}}, nil
	}
	return nil, errUnknownMechanism
}

// errUnknownMechanism answers AUTH with a mechanism not offered, in RFC
// 4954's words (section 6); go-smtp's 5.7.4 is "security features not
// supported".
var errUnknownMechanism = &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "Unrecognized authentication type"}

// malformed answers a response that the mechanism cannot parse (go-sasl's
// PLAIN server's "sasl: invalid response": an empty one, "=", or one
// without its two NUL bytes) with 501 5.5.2, a permanent error, as RFC
// 4954 answers a response that is not base64; go-smtp would answer it
// 454, which has the client try the same again later. The replies of
// the login itself (535, 454) are the session's.
type malformed struct {
	mech string
	sasl.Server
}

func (m malformed) Next(resp []byte) ([]byte, bool, error) {
	challenge, done, err := m.Server.Next(resp)
	var se *smtp.SMTPError
	if err != nil && !errors.As(err, &se) {
		err = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Malformed AUTH " + m.mech + " response: " + oneLine(err.Error())}
	}
	return challenge, done, err
}

// login checks a login given with mechanism mech. The log names the
// mechanism and the user name, never the password.
func (s *session) login(mech, identity, username, password string) error {
	cfg := s.b.Config
	if s.trusted {
		// The peer is the user (its socket's owner): the login
		// proves nothing more. A program set up with whatever SMTP
		// user and password (PHPMailer's SMTPAuth, Nextcloud,
		// smtplib.login) would stop at a 535, and has nothing better
		// to give.
		if s.b.Log != nil && s.conn != nil {
			s.b.Log.Info("smtp: AUTH accepted, login not needed: the client is the user's own program",
				"peer", s.conn.peer(), "peer_uid", s.conn.peerUID, "mech", mech, "username", username)
		}
		s.authed = true
		return nil
	}
	ok := (identity == "" || identity == username) && username == cfg.User
	if ok {
		secret, err := ReadSecret(cfg.SMTP.SecretFile)
		if err != nil {
			if s.b.Log != nil {
				s.b.Log.Warn("smtp: AUTH refused: no usable secret", "reason", err.Error())
			}
			return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
		}
		ok = secretEqual(secret, password)
	}
	if !ok {
		s.authFails++
		if s.b.Log != nil && s.conn != nil {
			s.b.Log.Warn("smtp: AUTH failed", "peer", s.conn.peer(), "peer_uid", s.conn.peerUID, "mech", mech, "username", username)
		}
		// Slow a guesser down, more with every try; the secret is
		// too long to guess anyway.
		time.Sleep(time.Duration(min(s.authFails, 10)) * 500 * time.Millisecond)
		msg := "Authentication failed"
		if s.conn != nil {
			msg += ": " + s.conn.s.loginHint() + " (the user's own programs need no login)"
		}
		return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: msg}
	}
	// A session of another user counts against max_sessions from now
	// on (smtpd.go, foreignMax).
	if s.conn != nil && !s.conn.authenticated() {
		return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Too many sessions at once, try again later"}
	}
	s.authed = true
	return nil
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

func uidString(uid int, err error) string {
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return fmt.Sprint(uid)
}
