package smtpd

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"homepost/config"
)

// A client that goes away in the middle of the last chunk of BDAT
// ("BDAT 30 LAST" and fewer than 30 bytes) leaves nothing queued, over
// either socket, whether it closes the connection or only its sending
// side.
func TestShortLastChunkQueuesNothing(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	for _, network := range []string{"unix", "tcp"} {
		for _, halfClose := range []bool{false, true} {
			addr := ts.unix
			if network == "tcp" {
				addr = ts.tcp
			}
			d := dial(t, network, addr)
			d.cmd("EHLO c", "250")
			d.cmd("MAIL FROM:<x@example.org>", "250")
			d.cmd("RCPT TO:<root>", "250")
			d.send("BDAT 30 LAST\r\nSubject: abort9\r\n\r\nab")
			time.Sleep(100 * time.Millisecond)
			if halfClose {
				switch c := d.c.(type) {
				case *net.TCPConn:
					c.CloseWrite()
				case *net.UnixConn:
					c.CloseWrite()
				}
				// Whatever is answered, it is not a success.
				d.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if line, err := d.r.ReadString('\n'); err == nil && !strings.HasPrefix(line, "4") {
					t.Errorf("%s, half closed: reply %q, want 4xx or none", network, line)
				}
			}
			d.c.Close()
		}
	}
	time.Sleep(300 * time.Millisecond)
	if q := queued(t, ts.cfg); len(q) != 0 {
		for _, m := range q {
			t.Errorf("queued: %q", body(t, m))
		}
	}
	if dr := drafts(ts.cfg); len(dr) != 0 {
		t.Errorf("drafts left in tmp/: %v", dr)
	}
}

// A client that falls silent in the middle of a BDAT chunk gets a
// temporary failure that gives nothing of the server's internals away,
// as in DATA, and nothing is queued.
func TestIdleInChunk(t *testing.T) {
	ts := startServer(t, os.Getuid(), func(c *config.Config) { c.SMTP.IdleTimeout.Duration = 300 * time.Millisecond })
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<x@example.org>", "250")
	d.cmd("RCPT TO:<root>", "250")
	d.send("BDAT 30 LAST\r\nSubject: stalls\r\n")
	r := d.expect("4")
	if strings.Contains(r, "tcp") || strings.Contains(r, "127.0.0.1") || strings.Contains(r, "i/o") {
		t.Errorf("reply %q tells of internals", r)
	}
	time.Sleep(200 * time.Millisecond)
	if q := queued(t, ts.cfg); len(q) != 0 {
		t.Errorf("%d queued", len(q))
	}
	if dr := drafts(ts.cfg); len(dr) != 0 {
		t.Errorf("drafts left in tmp/: %v", dr)
	}
}
