package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/courier"
	"homepost/outbox"
)

// session is one SMTP connection to the smarthost.
type session struct {
	c     *Client
	raw   net.Conn // the TCP connection, for deadlines and closing
	smtp  *smtp.Client
	stop  func() bool
	open  bool // a transaction is open (MAIL accepted, DATA not done)
	sent  int  // messages accepted on this connection
	utf8  bool // SMTPUTF8 offered
	limit int  // SIZE limit, 0 for none
}

// smtpSend sends msgs over as few connections as it can.
func (c *Client) smtpSend(ctx context.Context, msgs []*courier.Outgoing, res [][]courier.Result) {
	var s *session
	var down *courier.Result // why the smarthost cannot be reached
	defer func() {
		if s != nil {
			s.quit()
		}
	}()
	for i, m := range msgs {
		if len(m.Rcpts) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			fill(res[i], courier.Temp("4.4.7", "delivery interrupted: %v", err))
			continue
		}
		if down != nil {
			fill(res[i], *down)
			continue
		}
		if s == nil {
			var r courier.Result
			if s, r = c.dial(ctx); s == nil {
				down = &r
				fill(res[i], r)
				continue
			}
		}
		alive, early := s.send(m, res[i])
		if alive {
			continue
		}
		// The connection is gone. If it carried mail, the server may
		// just limit messages per connection: go on with a new one, and
		// if this message never got past MAIL FROM, it goes first. If
		// it carried none, the rest would meet the same fate.
		s.close()
		if s.sent == 0 {
			r := lastTemp(res[i])
			down = &r
			s = nil
			continue
		}
		s = nil
		if early {
			clear(res[i])
			var r courier.Result
			if s, r = c.dial(ctx); s == nil {
				down = &r
				fill(res[i], r)
				continue
			}
			if alive, _ := s.send(m, res[i]); !alive {
				s.close()
				if s.sent == 0 {
					r := lastTemp(res[i])
					down = &r
				}
				s = nil
			}
		}
	}
}

// lastTemp picks the deferral that explains a dead connection.
func lastTemp(res []courier.Result) courier.Result {
	for i := len(res) - 1; i >= 0; i-- {
		if res[i].Status == outbox.Deferred {
			return res[i]
		}
	}
	return courier.Temp("4.4.2", "connection lost")
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
	cc := &clampConn{Conn: tcp, max: rc.CommandTimeout.Duration}
	var raw net.Conn = cc
	s := &session{c: c, raw: raw}
	// Cancelling ctx closes the connection: whatever is in flight fails
	// as a lost connection and is deferred.
	s.stop = context.AfterFunc(ctx, func() { raw.Close() })
	fail := func(r courier.Result) (*session, courier.Result) {
		s.close()
		return nil, r
	}
	switch c.kind {
	case kindTLS:
		hctx, cancel := context.WithTimeout(ctx, rc.CommandTimeout.Duration)
		tc := tls.Client(raw, c.tls)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return fail(courier.Temp("4.7.5", "TLS with %s failed: %v", c.host, netReason(err)))
		}
		s.smtp = smtp.NewClient(tc)
		s.timeouts()
		if err := s.smtp.Hello(c.cfg.Hostname); err != nil {
			r, _ := s.result(err, "greeting")
			return fail(r)
		}
	case kindStartTLS:
		sc, err := smtp.NewClientStartTLS(raw, c.tls)
		if err != nil {
			if strings.Contains(err.Error(), "doesn't support STARTTLS") {
				return fail(courier.Temp("4.7.4", "host %s does not offer STARTTLS; mail is not sent in clear text", c.host))
			}
			r, _ := s.result(err, "STARTTLS")
			return fail(r)
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
			r, _ := s.result(err, "greeting")
			return fail(r)
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
	_, tlsOn := s.smtp.TLSConnectionState()
	c.log.Debug("relay connected", "host", c.addr, "tls", tlsOn, "auth", rc.Username != "")
	return s, courier.Result{}
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

// send runs one mail transaction and fills res. It reports whether the
// connection can still be used and, if not, whether it failed before
// the server accepted a recipient (so the message may go again at once).
func (s *session) send(m *courier.Outgoing, res []courier.Result) (alive, early bool) {
	c := s.c
	if s.open {
		// The last transaction ended without DATA (every recipient
		// refused): end it. After a completed DATA the server is ready
		// for the next MAIL as it is, and go-smtp would say EHLO again
		// after RSET.
		if err := s.smtp.Reset(); err != nil {
			r, _ := s.result(err, "RSET")
			fill(res, r)
			return false, true
		}
		s.open = false
	}

	br := bufio.NewReaderSize(m.Open(), 64<<10)
	head, err := readHead(br)
	if err != nil {
		fill(res, courier.Temp("4.3.0", "read queued message: %v", err))
		return true, false
	}
	head = c.rewrite(head)

	sender := c.envelopeSender(m.Sender)
	if badPath(sender) {
		fill(res, courier.Perm("5.1.7", "bad sender address %q", sender))
		return true, false
	}
	needUTF8 := !ascii(sender) || !ascii(string(head))
	for _, r := range m.Rcpts {
		needUTF8 = needUTF8 || !ascii(r)
	}
	if !ascii(sender) && !s.utf8 {
		fill(res, courier.Perm("5.6.7", "host %s does not support SMTPUTF8, needed for sender %s", c.host, sender))
		return true, false
	}
	if s.limit > 0 && m.Size > int64(s.limit) {
		fill(res, courier.Perm("5.3.4", "message size %d exceeds the limit of %d bytes of host %s", m.Size, s.limit, c.host))
		return true, false
	}
	opts := &smtp.MailOptions{Size: m.Size, UTF8: needUTF8 && s.utf8}
	if err := s.smtp.Mail(sender, opts); err != nil {
		r, alive := s.result(err, "MAIL FROM")
		fill(res, r)
		return alive, true
	}
	s.open = true
	accepted := make([]bool, len(m.Rcpts))
	n := 0
	for i, rcpt := range m.Rcpts {
		if rcpt == "" || badPath(rcpt) {
			res[i] = courier.Perm("5.1.3", "bad recipient address %q", rcpt)
			continue
		}
		if !ascii(rcpt) && !s.utf8 {
			res[i] = courier.Perm("5.6.7", "host %s does not support SMTPUTF8, needed for %s", c.host, rcpt)
			continue
		}
		if err := s.smtp.Rcpt(rcpt, nil); err != nil {
			r, alive := s.result(err, "RCPT TO")
			res[i] = r
			if !alive {
				fill(res, r)
				return false, false
			}
			continue
		}
		accepted[i] = true
		n++
	}
	if n == 0 {
		return true, false
	}
	// From here on, any failure applies to the accepted recipients only:
	// the others already have their own reply.
	done := func(r courier.Result) {
		for i, ok := range accepted {
			if ok {
				res[i] = r
			}
		}
	}
	w, err := s.smtp.Data()
	if err != nil {
		r, alive := s.result(err, "DATA")
		done(r)
		return alive, false
	}
	dw := &deadlineWriter{w: w, conn: s.raw, d: c.rc.DataTimeout.Duration}
	src := &sourceReader{r: br}
	_, err = dw.Write(head)
	if err == nil {
		_, err = io.Copy(dw, src)
	}
	if err != nil {
		// The message is incomplete: never send the final dot. Closing
		// the connection makes the server discard the transaction.
		r, _ := s.result(err, "sending the message")
		if src.err != nil {
			r = courier.Temp("4.3.0", "read queued message: %v", src.err)
		}
		done(r)
		return false, false
	}
	resp, err := w.CloseWithResponse()
	s.open = false // the reply to the data ends the transaction, whatever it says
	if err != nil {
		r, alive := s.result(err, "end of data")
		done(r)
		return alive, false
	}
	s.sent++
	done(courier.OK(fmt.Sprintf("host %s said: 250 %s", c.host, oneLine(resp.StatusText))))
	return true, false
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

// clampConn holds every deadline set on it to at most max from now
// (0: no clamp).
type clampConn struct {
	net.Conn
	max time.Duration
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
	if c.max > 0 {
		if limit := time.Now().Add(c.max); t.IsZero() || t.After(limit) {
			return limit
		}
	}
	return t
}
