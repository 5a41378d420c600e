package bsmtp

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/config"
	"homepost/outbox"
)

func testConfig(t *testing.T) *config.Config {
	home := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", home, "Alice Liddell", os.Getuid()))
	cfg.Hostname = "laptop"
	cfg.StateDir = filepath.Join(home, "state")
	cfg.Outbox = filepath.Join(home, "state", "outbox")
	return cfg
}

// queued reads every message in the outbox's new/, oldest first.
func queued(t *testing.T, cfg *config.Config) []*outbox.Message {
	t.Helper()
	d := outbox.Dir(cfg.Outbox)
	names, err := d.Names("new")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var out []*outbox.Message
	for _, n := range names {
		m, err := outbox.Open(d.Path("new", n))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		out = append(out, m)
	}
	return out
}

func body(t *testing.T, m *outbox.Message) string {
	b, err := io.ReadAll(m.Body())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// clientConn is the client's side of the two pipes.
type clientConn struct {
	io.Reader
	io.WriteCloser
}

func (clientConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (clientConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (clientConn) SetDeadline(time.Time) error      { return nil }
func (clientConn) SetReadDeadline(time.Time) error  { return nil }
func (clientConn) SetWriteDeadline(time.Time) error { return nil }

// TestConversation runs go-smtp's client against Serve through pipes, as
// a PHP mailer talks to sendmail -bs.
func TestConversation(t *testing.T) {
	cfg := testConfig(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := Serve(cfg, inR, outW)
		outW.Close()
		done <- err
	}()
	c := smtp.NewClient(clientConn{outR, inW})
	if err := c.Hello("php.local"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("8BITMIME"); !ok {
		t.Error("8BITMIME not offered")
	}
	send := func(from string, to []string, msg string) string {
		t.Helper()
		if err := c.Mail(from, nil); err != nil {
			t.Fatal(err)
		}
		for _, r := range to {
			if err := c.Rcpt(r, nil); err != nil {
				t.Fatal(err)
			}
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, msg)
		resp, err := w.CloseWithResponse()
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusText
	}
	msg1 := "From: Web <www@laptop>\r\nTo: bob@example.org\r\nSubject: order\r\n\r\nLine one\r\n.\r\n..two dots\r\nlast\r\n"
	reply := send("www@laptop", []string{"bob@example.org", "carol@example.org"}, msg1)
	if !strings.HasPrefix(reply, "2.0.0 Ok: queued as ") {
		t.Errorf("reply %q", reply)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	send("", []string{"alice@laptop"}, "Subject: bounce\r\n\r\nnull sender\r\n")

	// A bad recipient is refused at RCPT; the session goes on.
	if err := c.Mail("www@laptop", nil); err != nil {
		t.Fatal(err)
	}
	err := c.Rcpt("nobody@", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code/100 != 5 {
		t.Errorf("bad recipient: %v", err)
	}
	c.Reset()
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	// Serve returns after QUIT even while the client keeps its end of
	// standard input open, as some mailers do until the process exits.
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after QUIT")
	}
	inW.Close()

	msgs := queued(t, cfg)
	if len(msgs) != 2 {
		t.Fatalf("%d messages queued, want 2", len(msgs))
	}
	var first, second *outbox.Message
	for _, m := range msgs {
		if m.Env.Sender == "" {
			second = m
		} else {
			first = m
		}
	}
	if first == nil || second == nil {
		t.Fatalf("senders: %q", []string{msgs[0].Env.Sender, msgs[1].Env.Sender})
	}
	if first.Env.Sender != "www@laptop" || len(first.Env.Rcpts) != 2 || first.Env.Rcpts[1].Addr != "carol@example.org" {
		t.Errorf("envelope %+v", first.Env)
	}
	b := body(t, first)
	if !strings.HasPrefix(b, "From: Web <www@laptop>\nTo: bob@example.org\nSubject: order\n") ||
		!strings.HasSuffix(b, "\n\nLine one\n.\n..two dots\nlast\n") {
		t.Errorf("queued message:\n%s", b)
	}
	if !strings.Contains(b, "\nMessage-ID: <") || !strings.Contains(b, "\nDate: ") {
		t.Errorf("header not completed:\n%s", b)
	}
	if !strings.Contains(reply, first.ID) {
		t.Errorf("reply %q does not name queue ID %s", reply, first.ID)
	}
	if !strings.HasSuffix(body(t, second), "\n\nnull sender\n") || second.Env.Rcpts[0].Addr != "alice@laptop" {
		t.Errorf("second message: %q %+v", body(t, second), second.Env)
	}
}

// TestBareLF: a dialogue typed with bare LFs, ended by EOF without QUIT.
func TestBareLF(t *testing.T) {
	cfg := testConfig(t)
	in := "HELO me\nMAIL FROM:<alice@laptop>\nRCPT TO:<bob@example.org>\nDATA\nSubject: typed\n\nhello\n.\nMAIL FROM:<alice@laptop>\nRCPT TO:<bob@example.org>\nDATA\nSubject: cut off\n\nno final dot\n"
	var out bytes.Buffer
	if err := Serve(cfg, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\r\n")
	if !strings.HasPrefix(lines[0], "220 laptop ") {
		t.Errorf("greeting %q", lines[0])
	}
	if !strings.Contains(out.String(), "250 2.0.0 Ok: queued as ") {
		t.Errorf("dialogue:\n%s", out.String())
	}
	msgs := queued(t, cfg)
	if len(msgs) != 1 {
		t.Fatalf("%d messages queued, want 1 (the cut-off one must not be)", len(msgs))
	}
	if b := body(t, msgs[0]); !strings.HasPrefix(b, "Subject: typed\n") || !strings.HasSuffix(b, "\n\nhello\n") {
		t.Errorf("queued %q", b)
	}
	if n, _ := outbox.Dir(cfg.Outbox).Names("tmp"); len(n) != 0 {
		t.Errorf("left in tmp/: %v", n)
	}
}

func TestCommandsOutOfOrder(t *testing.T) {
	cfg := testConfig(t)
	in := "EHLO me\r\nDATA\r\nRCPT TO:<bob@example.org>\r\nMAIL FROM:<bad address>\r\nQUIT\r\n"
	var out bytes.Buffer
	if err := Serve(cfg, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	o := out.String()
	for _, want := range []string{"\r\n503 ", "\r\n221 "} { // bad sequence
		if !strings.Contains(o, want) {
			t.Errorf("no %q in\n%s", want, o)
		}
	}
	if n, _ := outbox.Dir(cfg.Outbox).Names("new"); len(n) != 0 {
		t.Errorf("queued %v", n)
	}
}

// FuzzServe: any input ends the session without a panic or a hang.
func FuzzServe(f *testing.F) {
	f.Add("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
	f.Add("HELO\nMAIL FROM:<>\nRCPT TO:<\x00>\nDATA\n.\n")
	f.Add("AUTH PLAIN AAAA\r\nSTARTTLS\r\nBDAT 10 LAST\r\n0123456789")
	f.Fuzz(func(t *testing.T, in string) {
		cfg := testConfig(t)
		Serve(cfg, strings.NewReader(in), io.Discard)
	})
}

// A quoted local part that needs its quotes ("quoted local"@host, which
// sendmail -t accepts) is taken over SMTP too: go-smtp hands the path
// over without its quotes, and the session puts them back.
func TestQuotedLocalPart(t *testing.T) {
	cfg := testConfig(t)
	in := "EHLO me\r\nMAIL FROM:<\"a b\"@example.org>\r\nRCPT TO:<\"quoted local\"@example.org>\r\nDATA\r\nSubject: q\r\n\r\nb\r\n.\r\nQUIT\r\n"
	var out bytes.Buffer
	if err := Serve(cfg, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	msgs := queued(t, cfg)
	if len(msgs) != 1 {
		t.Fatalf("%d queued:\n%s", len(msgs), out.String())
	}
	env := msgs[0].Env
	if env.Sender != `"a b"@example.org` || len(env.Rcpts) != 1 || env.Rcpts[0].Addr != `"quoted local"@example.org` {
		t.Errorf("envelope %q %+v", env.Sender, env.Rcpts)
	}
}
