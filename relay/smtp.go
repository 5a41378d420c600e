package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/courier"
	"homepost/outbox"
)

// maxRcpt is the most recipients a transaction carries, as Postfix's
// smtp_destination_recipient_limit: a message to more goes in several
// transactions, one after the other on the same connection.
const maxRcpt = 50

// session is one SMTP connection to the smarthost.
type session struct {
	c       *Client
	raw     net.Conn // the TCP connection, for deadlines and closing
	smtp    *smtp.Client
	stop    func() bool
	open    bool // a transaction is open (MAIL accepted, DATA not done)
	sent    int  // messages accepted on this connection
	utf8    bool // SMTPUTF8 offered
	limit   int  // SIZE limit, 0 for none
	rcptMax int  // recipients per transaction the server announced (LIMITS RCPTMAX), 0 for none
	cuts    *cuts
	// progress is told before each MAIL FROM, so that the results of
	// the transactions before are recorded before another begins.
	progress *progress
	// ctx is the delivery's: once it has ended, a failure is its stop
	// (which closes the connection), not the server's.
	ctx context.Context
	// retire: the connection works but is given up (a recipient quota
	// per connection): QUIT, without waiting for its reply.
	retire bool
	// wbuf is the buffer of the message's data, kept for the
	// connection's next message.
	wbuf *bufio.Writer
}

// cuts is what the smarthost's refusals for too many recipients have
// taught during one Send, kept from one connection to the next.
type cuts struct {
	limit int    // recipients per transaction, 0 while unknown
	wait  string // the recipient refused at the last cut without an enhanced code
	at    int    // ... after that many were accepted
	last  int    // the count of the last such cut that the next transaction confirmed
}

// smtpSend sends msgs over as few connections as it can.
func (c *Client) smtpSend(ctx context.Context, msgs []*courier.Outgoing, res [][]courier.Result, p *progress) {
	var s *session
	var down *courier.Result // why the smarthost cannot be reached
	learned := &cuts{}
	defer func() {
		if s != nil {
			// Every result is known once the last message's data is
			// answered: QUIT's reply is waited for in the background,
			// not before the results go back. A reply that never
			// comes (a connection dropped by a NAT or a suspended
			// laptop after the 250) held them for command_timeout, 5
			// minutes, during which the agent had not recorded what
			// the smarthost took: a crash then sent it again.
			go s.quit()
		}
	}()
	for i, m := range msgs {
		if len(m.Rcpts) == 0 {
			continue
		}
		if ctx.Err() != nil {
			fill(res[i], courier.NotTried("4.4.7", "%s", stoppedReason(ctx)))
			continue
		}
		for {
			if down != nil {
				fill(res[i], *down)
				break
			}
			if ctx.Err() != nil {
				// Stopped as a connection ended: what is left of
				// this message was never offered.
				fill(res[i], courier.NotTried("4.4.7", "%s", stoppedReason(ctx)))
				break
			}
			if s == nil {
				var r courier.Result
				if s, r = c.dial(ctx); s == nil {
					down = &r
					continue
				}
				s.cuts, s.progress = learned, p
			}
			p.at(i)
			alive, early, r := s.send(m, res[i])
			if alive {
				break
			}
			// The connection is gone. If it carried mail, the server
			// may just limit messages per connection: go on with a new
			// one, and if the transaction it failed in never got a
			// recipient accepted, what is left of this message goes
			// first. If it carried none, the rest would meet the same
			// fate.
			if s.retire {
				go s.quit() // its reply is not waited for
			} else {
				s.close()
			}
			sent := s.sent
			s = nil
			if sent == 0 {
				down = &r
				continue
			}
			if !early {
				fill(res[i], r)
				break
			}
		}
	}
}

// send sends m to the recipients of res that have no result yet, in as
// many transactions as the server's recipient limit asks for, and fills
// their results. It reports whether the connection can still be used;
// if not, the reason, which the recipients still open are to get, and
// whether the last transaction failed before the server accepted a
// recipient (so that they may go again at once on a new connection).
func (s *session) send(m *courier.Outgoing, res []courier.Result) (alive, early bool, why courier.Result) {
	for {
		if s.ctx.Err() != nil {
			// Stopped between two transactions (a stop waits for the
			// answer to one, then ends the delivery): the recipients
			// left were never offered.
			r := courier.NotTried("4.4.7", "%s", stoppedReason(s.ctx))
			fill(res, r)
			return false, false, r
		}
		var more bool
		more, alive, early, why = s.transaction(m, res)
		if !alive || !more {
			return alive, early, why
		}
	}
}

// transaction runs one mail transaction of m to the recipients of res
// that have no result yet, as many as the server takes in one. more
// reports that recipients are left for another transaction: the limit
// was reached, and the ones the transaction carried have their result.
// A transaction always settles at least one recipient, so that send
// ends.
func (s *session) transaction(m *courier.Outgoing, res []courier.Result) (more, alive, early bool, why courier.Result) {
	c := s.c
	if s.open {
		// The last transaction ended without DATA (every recipient
		// refused): end it. After a completed DATA the server is ready
		// for the next MAIL as it is, and go-smtp would say EHLO again
		// after RSET.
		if err := s.smtp.Reset(); err != nil {
			r, _ := s.result(err, "RSET")
			return false, false, true, deferral(r)
		}
		s.open = false
	}

	br := bufio.NewReaderSize(m.Open(), 64<<10)
	head, err := readHead(br)
	if err != nil {
		fill(res, courier.Temp("4.3.0", "read queued message: %v", err))
		return false, true, false, courier.Result{}
	}
	queuedHead := len(head)
	head = c.rewrite(head)
	// SIZE and the server's limit count the message as it goes on the
	// wire (RFC 1870), not as queued: each LF is CRLF there, and a
	// rewritten From or a long line broken adds octets.
	size, err := wireSize(head, queuedHead, m.Open)
	if err != nil {
		fill(res, courier.Temp("4.3.0", "%v", err))
		return false, true, false, courier.Result{}
	}

	sender := c.envelopeSender(m.Sender)
	if badPath(sender) {
		fill(res, courier.Perm("5.1.7", "bad sender address %q", sender))
		return false, true, false, courier.Result{}
	}
	needUTF8 := !ascii(sender) || !ascii(string(head))
	for i, r := range m.Rcpts {
		needUTF8 = needUTF8 || res[i].Status == 0 && !ascii(r)
	}
	// To a server without SMTPUTF8 an address goes in ASCII: a domain
	// in UTF-8 in its A-labels (asciiPath). Results and logs name the
	// address as it was given; the form sent is noted beside it.
	wireSender := sender
	if !s.utf8 {
		w, err := asciiPath(sender)
		if err != nil {
			fill(res, courier.Perm("5.6.7", "%s", noUTF8Reason(c.host, "sender ", sender, err)))
			return false, true, false, courier.Result{}
		}
		wireSender = w
	}
	if s.limit > 0 && size > int64(s.limit) {
		fill(res, courier.Perm("5.3.4", "message size %d exceeds the limit of %d bytes of host %s", size, s.limit, c.host))
		return false, true, false, courier.Result{}
	}
	opts := &smtp.MailOptions{Size: size, UTF8: needUTF8 && s.utf8}
	mailDSN(opts, m.DSN)
	s.progress.report()
	if err := s.smtp.Mail(wireSender, opts); err != nil {
		r, alive := s.result(err, "MAIL FROM")
		if r.Status == outbox.Bounced {
			// A sender refused for good is, with a provider, nearly
			// always the address: the user's login or domain is
			// wanted, and [relay] from is where it is set.
			r.Reason = strings.TrimSuffix(r.Reason, inReplyTo("MAIL FROM")) +
				fmt.Sprintf(" (in reply to MAIL FROM:<%s>: the smarthost refuses this sender; [relay] from sets the address mail leaves with)", wireSender)
		}
		if alive {
			fill(res, r)
		}
		return false, alive, true, r
	}
	s.open = true
	limit := s.rcptLimit()
	var accepted []int
	// sentAs notes, for a recipient whose address went in another form
	// than it was given, the form that went.
	sentAs := map[int]string{}
	settle := func(i int, r courier.Result) {
		res[i] = r
		if w, ok := sentAs[i]; ok {
			res[i].Reason += fmt.Sprintf(" (sent as %s: host %s does not support SMTPUTF8)", w, c.host)
		}
	}
	first := true
	for i, rcpt := range m.Rcpts {
		if res[i].Status != 0 {
			continue // settled by an earlier transaction
		}
		if len(accepted) == limit {
			more = true
			break
		}
		if rcpt == "" || badPath(rcpt) {
			res[i] = courier.Perm("5.1.3", "bad recipient address %q", rcpt)
			continue
		}
		wire := rcpt
		if !s.utf8 {
			w, err := asciiPath(rcpt)
			if err != nil {
				res[i] = courier.Perm("5.6.7", "%s", noUTF8Reason(c.host, "", rcpt, err))
				continue
			}
			if w != rcpt {
				wire, sentAs[i] = w, w
			}
		}
		err := s.smtp.Rcpt(wire, rcptDSN(m.DSN))
		if first {
			s.cuts.first(rcpt, err == nil)
			first = false
		}
		if err == nil {
			accepted = append(accepted, i)
			continue
		}
		r, alive := s.result(err, "RCPT TO")
		if !alive {
			// Nothing of this transaction is settled but what was
			// refused before; the accepted ones were not sent.
			for _, a := range accepted {
				settle(a, r)
			}
			return false, false, len(accepted) == 0, r
		}
		if limited, sure := tooMany(err); limited {
			if len(accepted) > 0 {
				// RFC 5321 section 4.5.3.1.10: send the message to
				// the ones accepted, and this one and the rest in
				// another transaction.
				s.cuts.cut(rcpt, len(accepted), sure)
				more = true
				break
			}
			if sure {
				// Not even one recipient. It is no fault of the
				// recipients: whatever the code, they wait.
				r = deferral(r)
				if s.sent > 0 {
					// The server may count recipients per
					// connection: the rest go on a new one.
					s.retire = true
					return false, false, true, r
				}
				// A limit that a new connection does not get
				// around either (a quota): all of them wait.
				fill(res, r)
				return false, true, false, courier.Result{}
			}
			// A 452 without an enhanced code to the first recipient
			// is about that recipient.
		}
		settle(i, r)
	}
	if len(accepted) == 0 {
		return more, true, false, courier.Result{}
	}
	// From here on, any failure applies to the accepted recipients; the
	// message itself was refused, so the ones that no transaction has
	// carried yet get the same reply. The others already have their own.
	done := func(r courier.Result) {
		for _, a := range accepted {
			settle(a, r)
		}
	}
	w, err := s.smtp.DataRaw()
	if err != nil {
		r, alive := s.result(err, "DATA")
		done(r)
		if alive {
			fill(res, r)
		}
		return false, alive, false, r
	}
	dw := &deadlineWriter{w: w, conn: s.raw, d: c.rc.DataTimeout.Duration}
	src := &sourceReader{r: br}
	// The buffer gathers the wire's short pieces (each CRLF) into the
	// writes that each get the data timeout.
	if s.wbuf == nil {
		s.wbuf = bufio.NewWriterSize(dw, 64<<10)
	}
	bw := s.wbuf
	bw.Reset(dw)
	ww := &wireWriter{w: bw, stuff: true}
	_, err = ww.Write(head)
	if err == nil {
		_, err = io.Copy(ww, src)
	}
	if err == nil {
		err = ww.finish()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		// The message is incomplete: never send the final dot. Closing
		// the connection makes the server discard the transaction.
		r, _ := s.result(err, "sending the message")
		if src.err != nil {
			r = courier.Temp("4.3.0", "read queued message: %v", src.err)
		}
		done(r)
		return false, false, false, r
	}
	// From the final dot on, the smarthost may take the message whatever
	// becomes of this connection: a stop waits for its answer.
	courier.Awaiting(s.ctx, true)
	// Told once the answer is read into a result: a stop that waited
	// for it ends the delivery then, and the result is the server's
	// (a 451, a connection it dropped), not the stop's.
	defer courier.Awaiting(s.ctx, false)
	if s.ctx.Err() != nil {
		// Stopped before the final dot went out (the stop's
		// cancellation closes the connection on its own time): the
		// server discards the transaction.
		s.raw.Close()
		r := courier.Temp("4.4.7", "delivery stopped before the final dot went to %s: the smarthost discards the message", c.host)
		done(r)
		return false, false, false, r
	}
	resp, err := w.CloseWithResponse()
	s.open = false // the reply to the data ends the transaction, whatever it says
	if err != nil {
		r, alive := s.result(err, "end of data")
		done(r)
		if alive {
			fill(res, r)
		}
		return false, alive, false, r
	}
	s.sent++
	done(courier.OK(fmt.Sprintf("host %s said: 250 %s", c.host, oneLine(resp.StatusText))))
	return more, true, false, courier.Result{}
}

// rcptLimit is the most recipients the next transaction may carry.
func (s *session) rcptLimit() int {
	n := maxRcpt
	for _, l := range []int{s.rcptMax, s.cuts.limit} {
		if l > 0 && l < n {
			n = l
		}
	}
	return n
}

// cut notes that the server refused rcpt for their number after
// accepting n. With the enhanced code X.5.3 the limit is n from now on.
// Without one the refusal may have been about rcpt itself: it is
// confirmed when the next transaction accepts rcpt first, and the limit
// is learnt when two confirmed cuts came at the same count. Not knowing
// the limit costs a refused RCPT per transaction; a wrong one, many
// small transactions.
func (k *cuts) cut(rcpt string, n int, sure bool) {
	k.wait, k.at = "", 0
	if sure {
		k.limit = n
		return
	}
	k.wait, k.at = rcpt, n
}

// first notes the reply to the first RCPT of a transaction.
func (k *cuts) first(rcpt string, accepted bool) {
	if k.wait == "" {
		return
	}
	if rcpt == k.wait && accepted {
		if k.at == k.last {
			k.limit = k.at
		}
		k.last = k.at
	}
	k.wait, k.at = "", 0
}

// tooMany reports whether a refusal of RCPT may mean that the
// transaction has as many recipients as the server takes (RFC 5321
// section 4.5.3.1.10: 452, or 552 of old), rather than something about
// the recipient; sure means that the enhanced status code X.5.3 "too
// many recipients" (RFC 3463) says so. A 452 or 552 without an enhanced
// code may mean either.
func tooMany(err error) (limited, sure bool) {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return false, false
	}
	switch ec := se.EnhancedCode; {
	case ec == smtp.EnhancedCodeNotSet || ec == smtp.NoEnhancedCode:
		return se.Code == 452 || se.Code == 552, false
	case ec[1] == 5 && ec[2] == 3 && (se.Code/100 == 4 || se.Code/100 == 5):
		return true, true
	}
	return false, false
}

// deferral makes r, the reason for a connection given up, a deferral.
func deferral(r courier.Result) courier.Result {
	if r.Status != outbox.Deferred {
		r.Status = outbox.Deferred
		if len(r.DSN) > 1 {
			r.DSN = "4" + r.DSN[1:]
		} else {
			r.DSN = "4.0.0"
		}
	}
	return r
}

// dial connects, says EHLO, sets up TLS and authenticates. On failure it
// returns a nil session and the deferral to record.
func (c *Client) dial(ctx context.Context) (*session, courier.Result) {
	rc := c.rc
	dialer := net.Dialer{Timeout: rc.ConnectTimeout.Duration}
	addr := c.addr
	if c.kind == kindPlain && !rc.Insecure {
		a, r, ok := c.loopbackAddr(ctx)
		if !ok {
			return nil, r
		}
		addr = a
	}
	tcp, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, courier.Temp("4.4.1", "connect to %s: %v", c.addr, netReason(err))
	}
	// go-smtp greets and says EHLO inside NewClientStartTLS with its
	// default timeout; clamping its deadlines holds it to ours.
	cc := &clampConn{Conn: tcp, max: rc.CommandTimeout.Duration, first: c.greetWait}
	// spoke tells the server's greeting from its reply to EHLO: go-smtp
	// reads the greeting inside Hello (and NewClientStartTLS) and
	// returns either as an error alike. Until the client has written a
	// command (past the TLS handshake of smtps), a reply can only be
	// the greeting.
	spoke := &spokeConn{Conn: cc}
	var raw net.Conn = spoke
	s := &session{c: c, raw: raw, ctx: ctx}
	// Cancelling ctx closes the connection: whatever is in flight fails
	// as a lost connection and is deferred.
	s.stop = context.AfterFunc(ctx, func() { raw.Close() })
	fail := func(r courier.Result) (*session, courier.Result) {
		s.close()
		return nil, r
	}
	switch c.kind {
	case kindTLS:
		wait := cc.firstLimit()
		hctx, cancel := context.WithTimeout(ctx, wait)
		tc := tls.Client(raw, c.tls)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return fail(c.handshakeResult(ctx, err, wait))
		}
		spoke.wrote = false
		s.smtp = smtp.NewClient(tc)
		s.timeouts()
		if err := s.smtp.Hello(c.cfg.Hostname); err != nil {
			return fail(s.helloResult(err, spoke, "EHLO"))
		}
	case kindStartTLS:
		sc, err := smtp.NewClientStartTLS(raw, c.tls)
		if err != nil {
			if strings.Contains(err.Error(), "doesn't support STARTTLS") {
				return fail(courier.Temp("4.7.4", "host %s does not offer STARTTLS; mail is not sent in clear text", c.host))
			}
			return fail(s.helloResult(err, spoke, "STARTTLS"))
		}
		s.smtp = sc
		s.timeouts()
		if err := s.smtp.Hello(c.cfg.Hostname); err != nil {
			if isTLSError(err) {
				return fail(courier.Temp("4.7.5", "TLS with %s failed: %v", c.host, netReason(err)))
			}
			r, _ := s.result(err, "EHLO")
			return fail(r)
		}
	default:
		s.smtp = smtp.NewClient(raw)
		s.timeouts()
		if err := s.smtp.Hello(c.cfg.Hostname); err != nil {
			return fail(s.helloResult(err, spoke, "EHLO"))
		}
	}
	if rc.Username != "" {
		if r, ok := s.auth(ctx); !ok {
			return fail(r)
		}
	}
	cc.max = 0 // the client's own timeouts are ours from here on
	s.utf8, _ = s.smtp.Extension("SMTPUTF8")
	s.limit, _ = s.smtp.MaxMessageSize()
	if ok, limits := s.smtp.Extension("LIMITS"); ok {
		s.rcptMax = rcptMax(limits)
	}
	_, tlsOn := s.smtp.TLSConnectionState()
	c.log.Debug("relay connected", "host", c.addr, "tls", tlsOn, "auth", rc.Username != "")
	return s, courier.Result{}
}

// helloResult is the deferral or bounce for a failure before the
// session could carry mail: at the greeting, or at stage (EHLO,
// STARTTLS). A greeting that refuses service, 5xx included, defers
// every recipient, as Postfix's smtp(8) does with smtp_skip_5xx_greeting
// = yes (the default): it says that this server does not take mail now,
// nothing about the recipients. A 5xx reply to EHLO (or to the HELO
// that go-smtp falls back to after 500 or 502) keeps its class, as in
// Postfix, which bounces the mail when HELO is refused too.
func (s *session) helloResult(err error, spoke *spokeConn, stage string) courier.Result {
	var se *smtp.SMTPError
	greeting := spoke.greeting(s.c.kind == kindTLS)
	if greeting {
		stage = "greeting"
	}
	if !greeting || !errors.As(err, &se) {
		r, _ := s.result(err, stage)
		var ne net.Error
		if greeting && errors.As(err, &ne) && ne.Timeout() {
			// Nothing came: say how long we waited, and what a
			// silent server usually is.
			r.Reason += ": " + s.c.greetingHint(spoke.Conn.(*clampConn).firstLimit())
		}
		return r
	}
	r, _ := s.result(err, "greeting")
	r = deferral(r)
	r.Reason = fmt.Sprintf("host %s refused to talk to me: %s", s.c.host, replyText(se))
	return r
}

// spokeConn notes whether the SMTP client has written anything, and
// whether it closed the connection. closed is atomic: a delivery
// stopped in the TLS handshake closes the connection from the stop's
// goroutine while the handshake's own goroutine closes it too.
type spokeConn struct {
	net.Conn
	wrote  bool
	closed atomic.Bool
}

func (c *spokeConn) Write(p []byte) (int, error) {
	c.wrote = true
	return c.Conn.Write(p)
}

func (c *spokeConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// greeting reports whether the reply that Hello failed on was the
// greeting. go-smtp closes the connection when the greeting fails, and
// only then (a reply to EHLO leaves it open); over TLS (tls, spoke
// beneath it) that close writes an alert, so there it is the close
// that tells; in clear, a reply before any command is the greeting.
func (c *spokeConn) greeting(tls bool) bool {
	if tls {
		return c.closed.Load()
	}
	return !c.wrote
}

// rcptMax reads RCPTMAX from the parameters of the LIMITS extension
// (RFC 9422), 0 when absent or not a number.
func rcptMax(limits string) int {
	for _, f := range strings.Fields(limits) {
		k, v, _ := strings.Cut(f, "=")
		if strings.EqualFold(k, "RCPTMAX") {
			n, err := strconv.Atoi(v)
			if err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

func (s *session) timeouts() {
	s.smtp.CommandTimeout = s.c.rc.CommandTimeout.Duration
	s.smtp.SubmissionTimeout = s.c.rc.DataTimeout.Duration
}

// loopbackAddr resolves the host of a plain smtp:// URL and insists
// that every address it has is a loopback address.
func (c *Client) loopbackAddr(ctx context.Context) (string, courier.Result, bool) {
	host, port, _ := net.SplitHostPort(c.addr)
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return "", courier.Temp("4.4.3", "cannot resolve %s: %v", host, netReason(err)), false
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return "", courier.Temp("4.7.0", "refusing plain SMTP to %s (%s is not a loopback address); use TLS or set insecure = true", host, ip.IP), false
		}
	}
	return net.JoinHostPort(ips[0].IP.String(), port), courier.Result{}, true
}

// badPath reports whether addr cannot go into MAIL FROM:<...> or RCPT
// TO:<...> as it is: a line break or NUL anywhere, or a space or angle
// bracket outside a quoted local part ("john doe"@example.org is fine).
func badPath(addr string) bool {
	if strings.ContainsAny(addr, "\r\n\x00") {
		return true
	}
	quoted := false
	for i := 0; i < len(addr); i++ {
		switch c := addr[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && (c == ' ' || c == '\t' || c == '<' || c == '>'):
			return true
		}
	}
	return quoted
}

// quit ends the session politely.
func (s *session) quit() {
	if s.smtp != nil {
		s.smtp.Quit()
	}
	s.close()
}

func (s *session) close() {
	if s.stop != nil {
		s.stop()
	}
	if s.smtp != nil {
		s.smtp.Close()
	} else {
		s.raw.Close()
	}
}

// deadlineWriter gives each write of the message the data timeout, so
// that a large message on a slow link is not cut off while a stalled
// server is.
type deadlineWriter struct {
	w    io.Writer
	conn net.Conn
	d    time.Duration
}

func (dw *deadlineWriter) Write(p []byte) (int, error) {
	dw.conn.SetDeadline(time.Now().Add(dw.d))
	return dw.w.Write(p)
}

// sourceReader remembers a failure to read the queued message, which
// must not be mistaken for the server's fault.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// greetingHint says why a server may send no greeting, for a greeting
// that did not come within wait. A server that speaks TLS from the
// first byte (smtps, RFC 8314: port 465, Postfix's 2465 in its tests)
// says nothing to a client that waits in clear for its greeting; it
// waits for the TLS handshake. smtp+starttls:// to such a port is an
// easy mistake (a provider's page says "TLS" and "465"), and the wait
// is the whole command timeout, so the reason names the url to try.
func (c *Client) greetingHint(wait time.Duration) string {
	h := fmt.Sprintf("no greeting within %v", wait)
	if c.kind == kindTLS {
		return h
	}
	tlsURL := "smtps://" + c.addr
	if _, port, _ := net.SplitHostPort(c.addr); port == "465" || port == "2465" {
		return h + fmt.Sprintf("; port %s is usually TLS from the first byte (implicit TLS), which %s:// does not speak: try url = %q", port, c.kind, tlsURL)
	}
	return h + fmt.Sprintf("; a server that wants TLS from the first byte (implicit TLS) says nothing: if this is one, try url = %q", tlsURL)
}

// clampConn holds every deadline set on it to at most max from now
// (0: no clamp), and, until the server has sent anything, to first
// (0: max alone): homepost check --relay gives up on a greeting sooner
// than a delivery does.
type clampConn struct {
	net.Conn
	max   time.Duration
	first time.Duration
	// heard: the server has sent something. Atomic: a cancelled TLS
	// handshake sets a deadline from another goroutine.
	heard atomic.Bool
}

func (c *clampConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.heard.Load() {
		c.heard.Store(true)
	}
	return n, err
}

// firstLimit is how long the server's first bytes are waited for.
func (c *clampConn) firstLimit() time.Duration {
	if c.first > 0 && (c.max == 0 || c.first < c.max) {
		return c.first
	}
	return c.max
}

// limit is the clamp in force now.
func (c *clampConn) limit() time.Duration {
	if !c.heard.Load() {
		return c.firstLimit()
	}
	return c.max
}

func (c *clampConn) SetDeadline(t time.Time) error {
	return c.Conn.SetDeadline(c.clamp(t))
}

func (c *clampConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}

func (c *clampConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

func (c *clampConn) clamp(t time.Time) time.Time {
	if m := c.limit(); m > 0 {
		if limit := time.Now().Add(m); t.IsZero() || t.After(limit) {
			return limit
		}
	}
	return t
}

// mailDSN puts the sender's RET and ENVID (sendmail -R, -V) in MAIL's
// options; go-smtp sends them only to a server that offers DSN. An
// ENVID that RFC 3461 does not allow (not printable ASCII, over 100
// characters) is left out rather than fail the transaction.
func mailDSN(opts *smtp.MailOptions, d courier.DSNRequest) {
	switch strings.ToUpper(d.Ret) {
	case "FULL":
		opts.Return = smtp.DSNReturnFull
	case "HDRS":
		opts.Return = smtp.DSNReturnHeaders
	}
	if id := d.EnvID; id != "" && len(id) <= 100 && printableASCII(id) {
		opts.EnvelopeID = id
	}
}

// rcptDSN is RCPT's NOTIFY (sendmail -N), or nil.
func rcptDSN(d courier.DSNRequest) *smtp.RcptOptions {
	if d.Notify == "" {
		return nil
	}
	var n []smtp.DSNNotify
	for _, w := range strings.Split(d.Notify, ",") {
		switch v := smtp.DSNNotify(strings.ToUpper(strings.TrimSpace(w))); v {
		case smtp.DSNNotifyNever, smtp.DSNNotifySuccess, smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed:
			if !slices.Contains(n, v) {
				n = append(n, v)
			}
		}
	}
	if len(n) == 0 || slices.Contains(n, smtp.DSNNotifyNever) && len(n) > 1 {
		return nil
	}
	return &smtp.RcptOptions{Notify: n}
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}
