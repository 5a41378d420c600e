package relay

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"homepost/courier"
	"homepost/outbox"
)

// rawServer is a smarthost that keeps the bytes of each MAIL command and
// each message's data exactly as they came, dot-stuffing and all, up to
// the final dot. sizeLimit, when set, is announced with SIZE.
type rawServer struct {
	mu   sync.Mutex
	mail []string
	data [][]byte
}

func startRawServer(t *testing.T, sizeLimit int) (*rawServer, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	rs := &rawServer{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go rs.serve(c, sizeLimit)
		}
	}()
	return rs, l.Addr().String()
}

func (rs *rawServer) serve(c net.Conn, sizeLimit int) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
	say("220 raw ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimRight(line, "\r\n"))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			if sizeLimit > 0 {
				say(fmt.Sprintf("250-raw\r\n250-SIZE %d\r\n250 8BITMIME", sizeLimit))
			} else {
				say("250-raw\r\n250-SIZE\r\n250 8BITMIME")
			}
		case strings.HasPrefix(cmd, "MAIL"):
			rs.mu.Lock()
			rs.mail = append(rs.mail, strings.TrimRight(line, "\r\n"))
			rs.mu.Unlock()
			say("250 2.1.0 ok")
		case strings.HasPrefix(cmd, "RCPT"):
			say("250 2.1.5 ok")
		case cmd == "DATA":
			say("354 go on")
			var data []byte
			for !bytes.HasSuffix(data, []byte("\r\n.\r\n")) && !bytes.Equal(data, []byte(".\r\n")) {
				b, err := r.ReadByte()
				if err != nil {
					return
				}
				data = append(data, b)
			}
			rs.mu.Lock()
			rs.data = append(rs.data, data[:len(data)-3])
			rs.mu.Unlock()
			say("250 2.0.0 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func (rs *rawServer) got(t *testing.T) (mail string, data []byte) {
	t.Helper()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.data) != 1 || len(rs.mail) != 1 {
		t.Fatalf("server got %d MAIL and %d messages, want 1", len(rs.mail), len(rs.data))
	}
	return rs.mail[0], rs.data[0]
}

func sendRaw(t *testing.T, msg string, sizeLimit int) (*rawServer, []courier.Result) {
	t.Helper()
	rs, addr := startRawServer(t, sizeLimit)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@example.org", msg, "bob@example.org")})
	return rs, res[0]
}

// TestWireBareCR: a CR that is no part of a line end never reaches the
// smarthost as a bare CR, which RFC 5321 forbids and which a server
// that takes it for a line end would read "\r.\r\n" within a message
// as the end of its data (SMTP smuggling): one right before a LF (or at
// the end) is left out, as Postfix's smtpd drops it, any other leaves as
// a space, as Postfix's cleanup makes it. The old writer (net/textproto)
// sent both as they were, and "abc\r" LF as "abc\r\n".
func TestWireBareCR(t *testing.T) {
	msg := "Subject: cr\n\nabc\r\none\rtwo\n.dot\n\r\nx\r.\r\nMAIL FROM:<a@b>\n\r.\nlast\r"
	rs, res := sendRaw(t, msg, 0)
	status(t, res, outbox.Sent)
	_, data := rs.got(t)
	want := "Subject: cr\r\n\r\nabc\r\none two\r\n..dot\r\n\r\nx .\r\nMAIL FROM:<a@b>\r\n .\r\nlast\r\n"
	if string(data) != want {
		t.Errorf("on the wire:\n%q\nwant\n%q", data, want)
	}
	if bytes.Contains(data, []byte("\r\r")) || bytes.Contains(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\r")) {
		t.Errorf("a bare CR on the wire: %q", data)
	}
}

// TestWireBreaksLongLines: a line longer than 998 octets is broken as
// Postfix's smtp(8) breaks it (smtp_line_length_limit = 998): CRLF SPACE
// after each 998 octets of wire line, the space counting to the next.
// A line of exactly 998 stays whole, and a doubled dot does not count.
func TestWireBreaksLongLines(t *testing.T) {
	a := strings.Repeat("a", 998)
	b := strings.Repeat("b", 997)
	msg := "Subject: " + strings.Repeat("h", 1000) + "\n" +
		"X: y\n\n" +
		a + "\n" + // exactly the limit
		a + "c\n" + // one over
		a + b + b + "c\n" + // over twice, and a piece left
		"." + a[1:] + "\n" + // a dot line at the limit
		a + b // the last line, no LF, breaks at the limit too
	rs, res := sendRaw(t, msg, 0)
	status(t, res, outbox.Sent)
	_, data := rs.got(t)
	want := "Subject: " + strings.Repeat("h", 998-9) + "\r\n " + strings.Repeat("h", 11) + "\r\n" +
		"X: y\r\n\r\n" +
		a + "\r\n" +
		a + "\r\n c\r\n" +
		a + "\r\n " + b + "\r\n " + b + "\r\n c\r\n" +
		".." + a[1:] + "\r\n" +
		a + "\r\n " + b + "\r\n"
	if string(data) != want {
		t.Errorf("on the wire (%d octets, want %d):\n%.3000q\nwant\n%.3000q", len(data), len(want), data, want)
	}
	for i, l := range strings.Split(strings.TrimSuffix(string(data), "\r\n"), "\r\n") {
		if n := len(strings.TrimPrefix(l, ".")); n > 998 {
			t.Errorf("wire line %d has %d octets", i+1, n)
		}
	}
}

// TestSizeIsWireSize: MAIL's SIZE is the message as it goes on the wire
// (RFC 1870 section 3: CRLF line ends, without the doubled dots), not as
// queued with LF; and the server's limit is compared with that.
func TestSizeIsWireSize(t *testing.T) {
	msg := "Subject: size\n\n.one\ntwo\r\nthree"
	rs, res := sendRaw(t, msg, 0)
	status(t, res, outbox.Sent)
	mail, data := rs.got(t)
	size := len(data) - 1 // less the doubled dot
	if want := fmt.Sprintf(" SIZE=%d", size); !strings.Contains(mail, want) {
		t.Errorf("MAIL %q, want %s (queued %d octets)", mail, want, len(msg))
	}

	// Under the limit as queued, over it as sent: refused before MAIL.
	rs, res = sendRaw(t, msg, len(msg)+2)
	status(t, res, outbox.Bounced)
	if r := res[0]; r.DSN != "5.3.4" || !strings.Contains(r.Reason, fmt.Sprintf("message size %d exceeds the limit of %d", size, len(msg)+2)) {
		t.Errorf("over the limit: %s", r.Text())
	}
	rs.mu.Lock()
	if len(rs.mail) != 0 {
		t.Errorf("MAIL sent for a message over the limit: %q", rs.mail)
	}
	rs.mu.Unlock()
}

// TestLongLineIsLinear: a line of many megabytes (a message with no line
// break at all) is broken in one pass. Looking for its LF from each
// break to the line's end again took half a minute for 32 MB.
func TestLongLineIsLinear(t *testing.T) {
	line := bytes.Repeat([]byte("x"), 32<<20)
	start := time.Now()
	n, err := wireSize(nil, 0, func() io.Reader { return bytes.NewReader(line) })
	if err != nil {
		t.Fatal(err)
	}
	// 998 octets, then 997 after each CRLF SPACE, and the last CRLF.
	breaks := (len(line) - 998 + 996) / 997
	if want := int64(len(line) + 3*breaks + 2); n != want {
		t.Errorf("wire size %d, want %d", n, want)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("32 MB line took %v", d)
	}
}
