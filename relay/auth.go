package relay

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"homepost/courier"
	"homepost/outbox"
)

// auth logs in with PLAIN, else LOGIN, only over TLS or to a loopback
// address (a tunnel or a gateway on this machine, such as stunnel's
// client or DavMail: the password crosses no network).
func (s *session) auth(ctx context.Context) (courier.Result, bool) {
	c := s.c
	if _, ok := s.smtp.TLSConnectionState(); !ok && !loopbackPeer(s.raw) {
		return courier.Temp("4.7.0", "refusing to authenticate to %s without TLS", c.host), false
	}
	pass := c.rc.Password
	if c.rc.PasswordCommand != "" {
		var err error
		if pass, err = c.password(ctx); err != nil {
			return courier.Temp("4.7.0", "%v", err), false
		}
	}
	var mech sasl.Client
	switch {
	case s.smtp.SupportsAuth("PLAIN"):
		mech = sasl.NewPlainClient("", c.rc.Username, pass)
	case s.smtp.SupportsAuth("LOGIN"):
		mech = sasl.NewLoginClient(c.rc.Username, pass)
	default:
		return courier.Temp("4.7.0", "host %s offers neither AUTH PLAIN nor AUTH LOGIN", c.host), false
	}
	if err := s.smtp.Auth(mech); err != nil {
		// Even a 5xx here is deferred: a wrong password is fixed in the
		// configuration, and the mail should wait for that.
		r, _ := s.result(err, "AUTH")
		r.Status = outbox.Deferred
		if strings.HasPrefix(r.DSN, "5") {
			r.DSN = "4" + r.DSN[1:]
		}
		r.Reason = "authentication failed: " + redact(r.Reason, c.rc.Username, pass)
		return r, false
	}
	return courier.Result{}, true
}

// redact takes the credentials out of a server's reply to AUTH. Some
// servers echo the AUTH line in their 535 reply, which would put the
// password, in base64, in the journal, the log, mailq and check --relay:
// the PLAIN response ("\0user\0password"), LOGIN's password, and the
// password itself are replaced by [redacted], as is whatever follows
// "AUTH PLAIN" or "AUTH LOGIN" in the reply.
func redact(reply, user, pass string) string {
	if pass == "" {
		return reply
	}
	secret := map[string]bool{pass: true}
	for _, e := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		secret[e.EncodeToString([]byte("\x00"+user+"\x00"+pass))] = true
		secret[e.EncodeToString([]byte(pass))] = true
	}
	// Word by word, so that a short password does not mangle the
	// words it happens to be part of.
	words := strings.Split(reply, " ")
	for i, w := range words {
		core := strings.Trim(w, "<>\"'()[],.;:")
		if core != "" && secret[core] {
			words[i] = strings.Replace(w, core, "[redacted]", 1)
		}
	}
	out := strings.Join(words, " ")
	if len(pass) >= minPlainSecret {
		// Echoed in plain text glued to other text ("password=..."),
		// or a passphrase with spaces, which no single word holds.
		out = strings.ReplaceAll(out, pass, "[redacted]")
	}
	return authLine.ReplaceAllString(out, "${1}[redacted]")
}

// minPlainSecret is the shortest password that redact takes out of a
// reply wherever it stands: a shorter one, taken out of the middle of
// words, would mangle the reply, and is redacted as a whole word only.
const minPlainSecret = 6

// authLine is an AUTH command echoed in a reply, up to its argument.
var authLine = regexp.MustCompile(`(?i)(AUTH\s+(?:PLAIN|LOGIN)\s+)[A-Za-z0-9+/=]+`)

// password runs password_command and returns the first line of its
// output. Neither the output nor the command's stderr goes into the
// error.
func (c *Client) password(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.commandTimeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.rc.PasswordCommand)
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	// ErrWaitDelay: the command exited 0 and printed its output, and a
	// process it left behind (an agent it started) still holds the
	// pipe: the password is there.
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("password_command failed (%v)", ee.ProcessState)
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("password_command timed out after %v", c.commandTimeout())
		}
		return "", fmt.Errorf("password_command failed to run")
	}
	line, _, _ := strings.Cut(string(out), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("password_command printed no password")
	}
	return line, nil
}

// loopbackPeer reports whether conn's far end is a loopback address.
func loopbackPeer(conn net.Conn) bool {
	a, ok := conn.RemoteAddr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}
