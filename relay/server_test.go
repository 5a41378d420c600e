package relay

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"homepost/config"
	"homepost/courier"
)

// received is one message as the test smarthost got it.
type received struct {
	From  string
	Rcpts []string
	Data  []byte
	UTF8  bool
	Body  smtp.BodyType
	User  string // authenticated user
	TLS   bool
	// DSN parameters: MAIL's RET and ENVID, each RCPT's NOTIFY.
	Ret    smtp.DSNReturn
	EnvID  string
	Notify [][]smtp.DSNNotify
}

// backend is an in-process smarthost that records what it accepts and
// fails on demand.
type backend struct {
	mu    sync.Mutex
	msgs  []received
	conns atomic.Int32
	rsets atomic.Int32

	// Behaviour, set before the test sends.
	user, pass string           // when set, AUTH is required
	loginOnly  bool             // offer AUTH LOGIN, not PLAIN
	rcptErr    map[string]error // per recipient reply
	mailErr    error            // reply to MAIL FROM
	dataErr    error            // reply after the data
	dropInData bool             // close the connection while reading data
	perConn    int              // after this many messages, 421 on MAIL
	authTries  atomic.Int32
	echoAuth   bool         // a 535 reply that echoes the AUTH line
	maxRcpt    int          // after this many recipients of a transaction, 452 4.5.3
	noCode     bool         // ... without the enhanced status code
	rcptMax    int          // the server's own limit, announced as LIMITS RCPTMAX
	connRcpt   int          // after this many recipients of a connection, 452 4.5.3
	tooMany    atomic.Int32 // 452 replies written, by anyone
	dsn        bool         // offer DSN
	noUTF8     bool         // do not offer SMTPUTF8
}

type testSession struct {
	be    *backend
	conn  *smtp.Conn
	cur   received
	user  string
	n     int
	rcpts int // recipients accepted on the connection
}

func (be *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &testSession{be: be, conn: c}, nil
}

func (s *testSession) AuthMechanisms() []string {
	if s.be.user == "" {
		return nil
	}
	if s.be.loginOnly {
		return []string{sasl.Login}
	}
	return []string{sasl.Plain}
}

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	if mech == sasl.Login {
		return &loginServer{s: s}, nil
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		s.be.authTries.Add(1)
		if user != s.be.user || pass != s.be.pass {
			if s.be.echoAuth {
				line := base64.StdEncoding.EncodeToString([]byte(identity + "\x00" + user + "\x00" + pass))
				return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "AUTH PLAIN " + line + " rejected"}
			}
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

func (s *testSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.be.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	if s.be.perConn > 0 && s.n >= s.be.perConn {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "too many messages, closing"}
	}
	if s.be.mailErr != nil {
		return s.be.mailErr
	}
	_, tlsOn := s.conn.TLSConnectionState()
	s.cur = received{From: from, UTF8: opts.UTF8, Body: opts.Body, User: s.user, TLS: tlsOn, Ret: opts.Return, EnvID: opts.EnvelopeID}
	return nil
}

func (s *testSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := s.be.rcptErr[to]; err != nil {
		return err
	}
	if s.be.maxRcpt > 0 && len(s.cur.Rcpts) >= s.be.maxRcpt {
		if s.be.noCode {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.NoEnhancedCode, Message: "Too many recipients"}
		}
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
	}
	if s.be.connRcpt > 0 && s.rcpts >= s.be.connRcpt {
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients on this connection"}
	}
	s.rcpts++
	s.cur.Rcpts = append(s.cur.Rcpts, to)
	var n []smtp.DSNNotify
	if opts != nil {
		n = opts.Notify
	}
	s.cur.Notify = append(s.cur.Notify, n)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	if s.be.dropInData {
		buf := make([]byte, 10)
		io.ReadFull(r, buf)
		s.conn.Conn().Close()
		return errors.New("dropped")
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.be.dataErr != nil {
		return s.be.dataErr
	}
	s.cur.Data = b
	s.n++
	s.be.mu.Lock()
	s.be.msgs = append(s.be.msgs, s.cur)
	s.be.mu.Unlock()
	return nil
}

func (s *testSession) Reset()        { s.be.rsets.Add(1); s.cur = received{} }
func (s *testSession) Logout() error { return nil }

func (be *backend) received() []received {
	be.mu.Lock()
	defer be.mu.Unlock()
	return append([]received(nil), be.msgs...)
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	be *backend
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.be.conns.Add(1)
		c = replyCounter{c, l.be}
	}
	return c, err
}

// replyCounter counts the 452 replies that the server writes.
type replyCounter struct {
	net.Conn
	be *backend
}

func (c replyCounter) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("452 ")) {
		c.be.tooMany.Add(1)
	}
	return c.Conn.Write(p)
}

// testCA is a certificate authority made for one test and a server
// certificate for 127.0.0.1 and localhost.
type testCA struct {
	caPEM  []byte
	server tls.Certificate
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "homepost test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
	}
}

// file writes the CA certificate where ca_file can name it.
func (ca *testCA) file(t testing.TB) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, ca.caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// serverMode says how the test smarthost speaks.
type serverMode int

const (
	plainMode    serverMode = iota // no TLS at all
	startTLSMode                   // STARTTLS offered
	implicitMode                   // TLS from the first byte
)

// startServer runs a go-smtp server on a loopback port and returns its
// address.
func startServer(t testing.TB, be *backend, mode serverMode, ca *testCA) string {
	t.Helper()
	srv := smtp.NewServer(be)
	srv.Domain = "smtp.test"
	srv.EnableSMTPUTF8 = !be.noUTF8
	srv.ErrorLog = discardLogger{}
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxRecipients = be.rcptMax
	srv.EnableDSN = be.dsn
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if mode != plainMode {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{ca.server}}
	} else {
		// A gateway on this machine (stunnel's client, DavMail)
		// takes a login in clear.
		srv.AllowInsecureAuth = true
	}
	var ln net.Listener = countingListener{l, be}
	if mode == implicitMode {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// testConfig is a configuration for user alice on host laptop.
func testConfig(t testing.TB, url string) *config.Config {
	home := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", home, "Alice Liddell", os.Getuid()))
	cfg.Hostname = "laptop"
	cfg.LocalDomains = []string{"localhost", "laptop"}
	cfg.Relay.URL = url
	return cfg
}

func newClient(t testing.TB, cfg *config.Config) *Client {
	t.Helper()
	c, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// outgoing makes a message to send.
func outgoing(id, sender, msg string, rcpts ...string) *courier.Outgoing {
	return &courier.Outgoing{
		ID: id, Sender: sender, Rcpts: rcpts, Size: int64(len(msg)),
		Open: func() io.Reader { return strings.NewReader(msg) },
	}
}

// crlf is what a message with LF line endings looks like on the wire,
// after the server has undone dot-stuffing.
func crlf(s string) []byte {
	return bytes.ReplaceAll([]byte(s), []byte("\n"), []byte("\r\n"))
}

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	s    *testSession
	step int
	user string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(resp) > 0 {
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	default:
		l.s.be.authTries.Add(1)
		if l.user != l.s.be.user || string(resp) != l.s.be.pass {
			return nil, true, smtp.ErrAuthFailed
		}
		l.s.user = l.user
		return nil, true, nil
	}
}
