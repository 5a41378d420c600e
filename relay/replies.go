package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/courier"
	"homepost/outbox"
)

// result turns an error of a command into a result, and reports whether
// the connection is still usable.
func (s *session) result(err error, stage string) (courier.Result, bool) {
	host := s.c.host
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		dsn := ""
		if ec := se.EnhancedCode; ec != smtp.EnhancedCodeNotSet && ec != smtp.NoEnhancedCode && ec[0] >= 2 && ec[0] <= 5 {
			dsn = fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
		}
		reason := fmt.Sprintf("host %s said: %s", host, replyText(se)) + inReplyTo(stage)
		class := se.Code / 100
		if dsn == "" || int(dsn[0]-'0') != class {
			switch class {
			case 5:
				dsn = "5.0.0"
			default:
				dsn = "4.0.0"
			}
		}
		// 421 means the server is closing the connection.
		alive := se.Code != 421
		if class == 5 {
			return courier.Result{Status: outbox.Bounced, DSN: dsn, Reason: reason}, alive
		}
		return courier.Result{Status: outbox.Deferred, DSN: dsn, Reason: reason}, alive && class == 4
	}
	if s.ctx != nil && s.ctx.Err() != nil {
		// The stop closed the connection: the error says only that
		// ("use of closed network connection").
		return courier.Temp("4.4.7", "delivery stopped during %s with %s%s", stage, host, maybeTwice(stage)), false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return courier.Temp("4.4.2", "timeout talking to %s (%s)%s", host, stage, maybeTwice(stage)), false
	}
	if isTLSError(err) {
		return courier.Temp("4.7.5", "TLS with %s failed: %v%s", host, netReason(err), maybeTwice(stage)), false
	}
	return courier.Temp("4.4.2", "lost connection with %s (%s): %v%s", host, stage, netReason(err), maybeTwice(stage)), false
}

// maybeTwice warns, for a connection lost or timed out while the answer
// to the final dot was awaited, that the smarthost may have taken the
// message all the same, so that the retry delivers it a second time:
// Postfix says "message may be sent more than once" there. A user who
// finds it twice in the recipient's mailbox then knows why.
func maybeTwice(stage string) string {
	if stage != "end of data" {
		return ""
	}
	return ": the smarthost may have taken the message before the connection ended, so it may arrive twice"
}

// inReplyTo says which command a reply answered, as Postfix says it
// after the reply ("(in reply to RCPT TO command)"), for the stages
// that are a command; "" for the others (the greeting).
func inReplyTo(stage string) string {
	switch stage {
	case "MAIL FROM", "RCPT TO", "DATA", "RSET", "EHLO", "STARTTLS", "AUTH":
		return " (in reply to " + stage + " command)"
	case "end of data":
		return " (in reply to end of DATA command)"
	}
	return ""
}

// stoppedReason is why a delivery whose context has ended sends nothing
// more, in words: Go's "context canceled" told a user nothing. The agent
// says why it stopped (it stops, or a reload replaced [relay]).
func stoppedReason(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "delivery stopped, out of time, before this message was sent"
	}
	return "delivery stopped before this message was sent"
}

// handshakeResult is the deferral for an implicit-TLS (smtps://)
// handshake that failed after waiting at most wait, said as the plain
// SMTP case says a missing greeting: what did not come, within what
// time, and the url to try when the port speaks in clear.
func (c *Client) handshakeResult(ctx context.Context, err error, wait time.Duration) courier.Result {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return courier.Temp("4.4.7", "TLS with %s not set up: %s", c.host, stoppedReason(ctx))
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return courier.Temp("4.7.5", "TLS with %s failed: no answer to the TLS handshake within %v (the server took the connection and said nothing: it may be hung or overloaded)", c.host, wait)
	case strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		// What came first was no TLS record: a greeting in clear.
		return courier.Temp("4.7.5", "TLS with %s failed: %v: the server speaks in clear first (plain SMTP, perhaps with STARTTLS), which smtps:// does not: try url = %q", c.host, netReason(err), "smtp+starttls://"+c.addr)
	}
	return courier.Temp("4.7.5", "TLS with %s failed: %v", c.host, netReason(err))
}

// replyText is a server's reply as mailq shows it: "554 5.7.1 go away".
func replyText(se *smtp.SMTPError) string {
	text := fmt.Sprintf("%d", se.Code)
	if ec := se.EnhancedCode; ec != smtp.EnhancedCodeNotSet && ec != smtp.NoEnhancedCode && ec[0] >= 2 && ec[0] <= 5 {
		text += fmt.Sprintf(" %d.%d.%d", ec[0], ec[1], ec[2])
	}
	if msg := oneLine(se.Message); msg != "" {
		text += " " + msg
	}
	return text
}

func isTLSError(err error) bool {
	var ce *tls.CertificateVerificationError
	var ae tls.AlertError
	return errors.As(err, &ce) || errors.As(err, &ae) ||
		strings.Contains(err.Error(), "tls: ")
}

// netReason shortens network errors: "dial tcp 127.0.0.1:25: connect:
// connection refused" says the address twice.
func netReason(err error) string {
	if err == nil {
		return "no address"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ce) {
		err = ce.Err
	}
	return oneLine(err.Error())
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", "")
	return strings.ReplaceAll(s, "\n", " ")
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
