// Package relay hands remote mail to one smarthost, the [relay] table of
// the configuration.
//
// # Configuration
//
//	[relay]
//	url = "smtps://smtp.example.com:465"   # or smtp+starttls://host:587, smtp://127.0.0.1:25, exec:/usr/sbin/sendmail -i
//	username = "me@example.com"
//	password_command = "pass show mail/example.com"   # or password = "..." (file must be mode 600)
//	from = "me@example.com"
//	ca_file = "~/.config/homepost/ca.pem"             # trusted besides the system roots
//	insecure = false
//	connect_timeout = "30s"
//	command_timeout = "5m"
//	data_timeout = "10m"
//
// The URL picks the transport:
//
//   - smtps://host[:465]: TLS from the first byte (RFC 8314), the
//     recommended way to submit mail.
//   - smtp+starttls://host[:587]: plain TCP upgraded with STARTTLS; a server
//     that does not offer STARTTLS gets nothing (mail is deferred), so a
//     man in the middle cannot strip TLS off.
//   - smtp://host[:25]: no TLS at all; allowed only to loopback addresses
//     (an MTA on this machine, a tunnel) unless insecure = true.
//   - exec:/path/to/program args: for hosts with a real MTA; the program
//     runs once per message with "-f SENDER" and the recipients appended
//     to its arguments and the message on stdin, like sendmail -i. Its
//     exit status is read as sysexits(3): 0 sent; 64-69, 76 and 77
//     bounced; anything else (75, another code, a signal, data_timeout
//     passing) deferred.
//
// Certificates are always verified, against the system roots plus ca_file;
// insecure only allows plain SMTP to a remote host and never turns off
// verification. AUTH (PLAIN, else LOGIN) is used when username is set and
// only over TLS. The password comes from password, which the configuration
// refuses in a file that others can read, or from the first line of the
// output of password_command, run with /bin/sh -c for each connection (as
// msmtp's passwordeval), so it can come from a keyring or a password
// manager. No secret ever appears in a log line or an error.
//
// from is what smarthosts want to see: every envelope sender except the
// null sender <> becomes this address, and a From: header field that
// names a local address (user, user@localhost, user@HOSTNAME, any of
// local_domains) is rewritten to it, keeping the display name.
// Addresses without a domain in From, To, Cc and Reply-To ("To:
// remoteme", as mail -s x remoteme writes it) get the domain of from,
// else the host name, as Postfix's append_at_myorigin does: "@domain"
// is inserted and the rest of the field kept (rewrite.go). Nothing else
// of the message changes: it goes out byte for byte, with CRLF line
// endings and dot-stuffing on the wire.
//
// # Outcomes
//
// Each recipient gets a result: a 2xx reply is sent; a 4xx reply, a
// failure to connect, a TLS or authentication failure, a timeout or a
// connection lost before the final reply to DATA is deferred (a message
// whose DATA did not complete counts as not sent); a 5xx reply is bounced,
// but for the greeting: a server that greets with 5xx ("554 5.7.1 go
// away") refuses service for now, and the mail is deferred, as Postfix
// does with smtp_skip_5xx_greeting = yes (its default). A 5xx reply to
// EHLO keeps its class, as in Postfix.
// The reason carries the server's reply, as "host smtp.example.com said:
// 451 4.3.0 try again later", and the DSN code its enhanced status code.
//
// A transaction carries at most 50 recipients (Postfix's
// smtp_destination_recipient_limit), or fewer when the server announces
// LIMITS RCPTMAX (RFC 9422); a message to more goes in several, one
// after the other. A server that refuses a recipient for their number
// (RFC 5321 section 4.5.3.1.10: 452 or 552 with X.5.3, after it has
// accepted some) gets the message for those accepted, and the refused
// one and the rest in the next transaction at once; later transactions
// stop at that count. A 452 or 552 without an enhanced code may be
// either: the refused recipient goes first in the next transaction, and
// only a refusal there is its own (deferred or bounced as it says); two
// such cuts at the same count, each confirmed that way, make it the
// limit. A refusal for number of the first recipient of a transaction
// defers the rest of the message (on a connection that has carried mail,
// after one more try on a new connection). A refusal of the message
// itself (DATA, the end of data) applies to every recipient still open.
// Each recipient gets one result, whatever the number of transactions.
// Before each transaction after the first of a Send call (each run of
// an exec: program after the first), the results settled since the
// last are told to their messages' Settled (courier.Outgoing), which
// the agent uses to record what the smarthost took before it sends
// anything more: a crash then sends again only what was in flight.
//
// One connection carries all messages of a Send call (RSET between them).
// A server that closes it after taking some messages (a limit per
// connection, "421 too many messages") gets a new connection for the
// rest, and a message refused that way before any recipient was accepted
// goes again at once; a connection that delivered nothing is not retried
// in the same call. SMTPUTF8 is used when offered and needed, 8BITMIME
// whenever offered; SIZE is declared and honoured. To a server without
// SMTPUTF8, an address whose domain alone is in UTF-8 goes with the
// domain in A-labels (asciiPath), and one whose local part is in UTF-8
// bounces with 5.6.7; the header fields go as they are, as 8-bit text
// goes to a server without 8BITMIME.
//
// # Why a package of its own
//
// The client is more than a courier: homepost check --relay logs in
// through it exactly as a delivery would (Client.Probe, package doctor),
// and the tests against a real Postfix drive it directly. courier.Relay
// only groups a batch's copies into messages and hands them to a Client,
// its Sender, so that SMTP, TLS and AUTH live here and nowhere else.
package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"homepost/addr"
	"homepost/config"
	"homepost/courier"
	"homepost/safeio"
	"homepost/settings"
)

// Transport kinds, from the URL scheme.
const (
	kindNone     = ""
	kindTLS      = "smtps"
	kindStartTLS = "smtp+starttls"
	kindPlain    = "smtp"
	kindExec     = "exec"
)

// Client sends remote mail to the configured smarthost. It keeps no
// connection for the next Send call (the QUIT that ends one may still be
// waited for in the background after Send has returned its results) and
// is safe for concurrent use.
type Client struct {
	cfg  *config.Config
	rc   config.Relay
	log  *slog.Logger
	kind string
	host string // smtp kinds: host name or address
	addr string // host:port
	argv []string
	tls  *tls.Config
	from string // rewrite address, "" for none
	// greetWait bounds the wait for the server's first bytes (the
	// greeting, the TLS handshake of smtps); 0: command_timeout.
	greetWait time.Duration
}

// New checks the [relay] table and makes a Client. A configuration
// error is a *config.Error naming the key. An empty url makes a Client
// that defers every message until a smarthost is configured.
func New(cfg *config.Config, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, rc: cfg.Relay, log: log}
	bad := func(key, format string, args ...any) error {
		return &config.Error{File: cfg.File, Key: "relay." + key, Msg: fmt.Sprintf(format, args...)}
	}
	rc := &c.rc
	// The checks that config.LoadFile has made already, with file:line;
	// a Config made in code meets them here.
	if errs := rc.Check(); len(errs) > 0 {
		e := *errs[0]
		e.File = cfg.File
		return nil, &e
	}
	if rc.From != "" {
		a, err := addr.Parse(rc.From)
		if err != nil || !strings.Contains(a, "@") {
			return nil, bad("from", "%q is not a full address (user@domain)", rc.From)
		}
		c.from = a
	}
	u := strings.TrimSpace(rc.URL)
	if u == "" {
		return c, nil
	}
	ep, err := settings.ParseRelayURL(u)
	if err != nil {
		return nil, bad("url", "%v", err)
	}
	c.kind = ep.Kind
	if c.kind == kindExec {
		if err := execLoops(cfg, ep.Argv[0]); err != nil {
			return nil, err
		}
		if err := execUnsafe(cfg, ep.Argv[0]); err != nil {
			return nil, err
		}
		c.argv = ep.Argv
		return c, nil
	}
	if _, err := url.Parse(u); err != nil {
		// An IPv6 address that settings only looked at. url.Parse
		// quotes the URL; keep its reason only, in case the URL holds a
		// password.
		return nil, bad("url", "not a valid URL (use smtps://host:465, smtp+starttls://host:587, smtp://host:port or exec:/path)")
	}
	c.host = ep.Host
	c.addr = net.JoinHostPort(ep.Host, ep.Port)
	if c.kind != kindPlain {
		if c.tls, err = tlsConfig(c.host, rc.CAFile); err != nil {
			return nil, bad("ca_file", "%v", err)
		}
	}
	return c, nil
}

// tlsConfig trusts the system roots plus the certificates in caFile.
func tlsConfig(host, caFile string) (*tls.Config, error) {
	conf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return conf, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	// A FIFO or device as ca_file must not block the delivery.
	pem, err := safeio.ReadRegular(caFile, 16<<20)
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate found", caFile)
	}
	conf.RootCAs = pool
	return conf, nil
}

// Configured reports whether a smarthost is set.
func (c *Client) Configured() bool { return c.kind != kindNone }

// Send delivers msgs and returns, for each message, one result per
// recipient in the order of its Rcpts. It never returns a result with
// status Pending. Cancelling ctx defers whatever is not done yet.
func (c *Client) Send(ctx context.Context, msgs []*courier.Outgoing) [][]courier.Result {
	res := make([][]courier.Result, len(msgs))
	for i, m := range msgs {
		res[i] = make([]courier.Result, len(m.Rcpts))
	}
	p := newProgress(msgs, res)
	switch c.kind {
	case kindNone:
		for i := range res {
			fill(res[i], courier.Temp("4.3.5", "no smarthost configured (set url in [relay])"))
		}
	case kindExec:
		for i, m := range msgs {
			if ctx.Err() != nil {
				fill(res[i], courier.NotTried("4.4.7", "%s", stoppedReason(ctx)))
				continue
			}
			// Each run of the program is a transaction.
			p.at(i)
			p.report()
			c.execSend(ctx, m, res[i])
		}
	default:
		c.smtpSend(ctx, msgs, res, p)
	}
	for i := range res {
		for j := range res[i] {
			if res[i][j].Status == 0 {
				res[i][j] = courier.Temp("4.3.0", "not attempted")
			}
		}
	}
	return res
}

// progress tells the messages of a Send call the results settled so
// far (courier.Outgoing.Settled) before each transaction after the
// first: what a crash in the next one must not send again is then
// recorded. A nil progress (no message wants to be told) does nothing.
type progress struct {
	msgs []*courier.Outgoing
	res  [][]courier.Result
	told [][]bool // results already told
	lo   int      // messages before lo are told all they will be
	cur  int      // the message being sent
}

func newProgress(msgs []*courier.Outgoing, res [][]courier.Result) *progress {
	for _, m := range msgs {
		if m.Settled != nil {
			told := make([][]bool, len(msgs))
			for i := range told {
				told[i] = make([]bool, len(res[i]))
			}
			return &progress{msgs: msgs, res: res, told: told}
		}
	}
	return nil
}

// at says that message i is being sent: those before it are done.
func (p *progress) at(i int) {
	if p != nil {
		p.cur = i
	}
}

// report tells each message with a Settled the results settled since
// the last report. It is called before a transaction begins.
func (p *progress) report() {
	if p == nil {
		return
	}
	for i := p.lo; i <= p.cur && i < len(p.msgs); i++ {
		if f := p.msgs[i].Settled; f != nil {
			var idx []int
			var rs []courier.Result
			for j, r := range p.res[i] {
				if r.Status != 0 && !p.told[i][j] {
					p.told[i][j] = true
					idx = append(idx, j)
					rs = append(rs, r)
				}
			}
			if len(idx) > 0 {
				f(idx, rs)
			}
		}
		if i < p.cur {
			p.lo = i + 1
		}
	}
}

// fill sets every result that is still open (status Pending) to r.
func fill(res []courier.Result, r courier.Result) {
	for i := range res {
		if res[i].Status == 0 {
			res[i] = r
		}
	}
}

// envelopeSender applies the from setting; the null sender stays null
// so that bounces never loop.
func (c *Client) envelopeSender(s string) string {
	if s == "" || c.from == "" {
		return s
	}
	return c.from
}

// timeout returns the command timeout for helper programs.
func (c *Client) commandTimeout() time.Duration { return c.rc.CommandTimeout.Duration }

// probeGreeting is how long Probe waits for the server's greeting (or
// the TLS handshake of smtps). A delivery waits command_timeout (5
// minutes by default, as Postfix's smtp_helo_timeout), which a person
// running homepost check takes for a hang; a smarthost that has not
// greeted within this is broken or spoken to in the wrong TLS mode
// (greetingHint).
var probeGreeting = 15 * time.Second

// Probe connects to the smarthost, sets up TLS and logs in exactly as a
// delivery would, then says QUIT without sending anything. For an exec:
// relay it checks that the program can be run. It is what
// "homepost check --relay" uses. It waits at most probeGreeting for the
// greeting.
func (c *Client) Probe(ctx context.Context) error {
	_, err := c.ProbeOffers(ctx)
	return err
}

// Offers is what a smarthost said it takes, in its EHLO reply: known
// false for an exec: relay, whose program says nothing of it.
type Offers struct {
	Known    bool
	EightBit bool // 8BITMIME
	UTF8     bool // SMTPUTF8
}

// ProbeOffers is Probe, and it returns the extensions the smarthost
// offered that decide how mail other than 7-bit ASCII leaves: homepost
// check tells the user of a smarthost without 8BITMIME, to which 8-bit
// mail goes unchanged (see Send).
func (c *Client) ProbeOffers(ctx context.Context) (Offers, error) {
	pc := *c
	pc.greetWait = probeGreeting
	c = &pc
	switch c.kind {
	case kindNone:
		return Offers{}, fmt.Errorf("no smarthost configured (set url in [relay])")
	case kindExec:
		st, err := os.Stat(c.argv[0])
		if err != nil {
			return Offers{}, err
		}
		if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			return Offers{}, fmt.Errorf("%s is not an executable file", c.argv[0])
		}
		return Offers{}, nil
	}
	s, r := c.dial(ctx)
	if s == nil {
		return Offers{}, fmt.Errorf("%s", r.Text())
	}
	o := Offers{Known: true, UTF8: s.utf8}
	o.EightBit, _ = s.smtp.Extension("8BITMIME")
	// The answer is known: QUIT's reply, which a server may never
	// send, is not waited for (command_timeout).
	go s.quit()
	return o, nil
}
