// Package bsmtp speaks SMTP on standard input and output, as sendmail -bs
// does: PHP mailers and some MUAs start "sendmail -bs" and talk SMTP to
// it instead of passing arguments. What it accepts is queued in the
// outbox like any other message, through submit.
//
// The dialogue is go-smtp's server over a net.Conn made of the two
// streams, running the agent's listener's sessions (smtpd.Backend): the
// same checks, submission and replies. What is left here is what a pair
// of streams needs that a socket does not, which is why it is a package
// apart from the listener: a connection made of stdin and stdout, one
// session, one wake of delivery at its end. There is no TLS and no AUTH:
// the peer is a local process already running as the user. Lines may end in CRLF or a bare LF (a
// person typing, a careless script); bare LFs are read as CRLF (by
// smtpwire's Reader), except within a BDAT chunk, whose bytes are
// counted and queued as they come. A message line may be of any
// length and is streamed; only a command line is limited (maxLine), as
// in the listener.
//
// The streams go through package smtpwire, as the agent's SMTP listener
// does: a bare name in MAIL FROM or RCPT TO ("RCPT TO:<nu1>") is
// accepted and qualified with the host name, as Postfix's sendmail -bs
// qualifies it with myorigin, and go-smtp's replies are spelled right.
package bsmtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/config"
	"homepost/smtpd"
	"homepost/smtpwire"
	"homepost/submit"
)

// Serve runs one SMTP session on in and out until the client says QUIT
// or in ends. It returns an error only when the streams fail; rejected
// commands and messages are answered within the dialogue.
func Serve(cfg *config.Config, in io.Reader, out io.Writer) error {
	conn := newPipeConn(in, &smtpwire.Writer{W: out, Domain: cfg.Hostname})
	// The sessions are the agent's listener's (smtpd.Backend): the same
	// checks, the same submission, the same replies. The peer is a
	// process of the user's, so no AUTH is asked for.
	b := &smtpd.Backend{Config: cfg, NoWake: true}
	srv := smtp.NewServer(b)
	srv.Domain = cfg.Hostname
	srv.EnableSMTPUTF8 = true
	// A message line may be of any length (HTML from a web
	// application, a base64 attachment without line breaks), as in the
	// agent's listener and in sendmail's own mode, and is streamed in
	// constant memory; only a command line is held whole, and limited
	// to maxLine. go-smtp would apply one limit to both, so it is given
	// none, and smtpwire's Reader, which knows the message's bytes from
	// the commands', limits the commands (newPipeConn).
	srv.MaxLineLength = 0
	srv.ErrorLog = nopLogger{}
	l := &oneListener{conn: conn}
	err := srv.Serve(l)
	// Serve returns when the connection is closed, which go-smtp does
	// from inside its handler (QUIT, too many errors): wait for the
	// handler itself to end, so that nothing is written after Serve.
	srv.Shutdown(context.Background())
	// A BDAT transfer cut off with the session ends in a goroutine of
	// go-smtp's: let it remove its draft before the process exits.
	b.Settle(5 * time.Second)
	if b.Queued.Load() {
		// Delivery is woken once for the whole session, not once per
		// message.
		submit.Wake(cfg)
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	if werr := conn.writeErr(); werr != nil && err == nil {
		err = fmt.Errorf("write SMTP reply: %w", werr)
	}
	return err
}

// maxLine bounds a command line, its CR LF included, as in the agent's
// listener (the lines of a message are not limited).
const maxLine = 1 << 20

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// oneListener hands out one connection, then waits until it is closed
// and reports the listener closed, which ends Server.Serve.
type oneListener struct {
	conn *pipeConn
	used bool
}

func (l *oneListener) Accept() (net.Conn, error) {
	if !l.used {
		l.used = true
		return l.conn, nil
	}
	<-l.conn.done
	return nil, net.ErrClosed
}

func (l *oneListener) Close() error   { return nil }
func (l *oneListener) Addr() net.Addr { return pipeAddr{} }

// pipeConn is a net.Conn made of a reader and a writer.
type pipeConn struct {
	r    io.Reader
	w    *bufio.Writer
	mu   sync.Mutex
	werr error
	once sync.Once
	done chan struct{}
}

func newPipeConn(in io.Reader, out *smtpwire.Writer) *pipeConn {
	// The replies go through out, and the Reader learns from them
	// whether DATA was accepted; bare LFs are read as CR LF, except
	// in a BDAT chunk, whose bytes are counted as they come.
	r := smtpwire.NewReader(in, out, maxLine)
	r.ReadBareLF()
	r.LimitCommands()
	return &pipeConn{r: r, w: bufio.NewWriter(out), done: make(chan struct{})}
}

func (c *pipeConn) Read(p []byte) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	return c.r.Read(p)
}

// Write sends a reply at once: the client waits for it.
func (c *pipeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	select {
	case <-c.done:
		return 0, net.ErrClosed // nothing after the session is closed
	default:
	}
	out := p
	if bytes.HasPrefix(p, tooLongReply) {
		// go-smtp's words for a command line over the limit: the
		// listener's, which say what was too long.
		out = fmt.Appendf(nil, "500 5.5.2 command line longer than %d MiB, closing connection\r\n", maxLine>>20)
	}
	_, err := c.w.Write(out)
	if err == nil {
		err = c.w.Flush()
	}
	c.werr = err
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// tooLongReply is go-smtp's reply to a command line over maxLine.
var tooLongReply = []byte("500 5.4.0 Too long line")

func (c *pipeConn) writeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.werr
}

func (c *pipeConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

func (c *pipeConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (c *pipeConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "stdio" }
