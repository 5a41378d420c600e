package smtpd

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// closing runs the server's Close(wait) in the background; the channel
// is closed when it returns.
func closing(ts *testServer, wait time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		ts.s.Close(wait)
		close(done)
	}()
	return done
}

// expectClosed checks that the server has closed the session: the
// client reads the end of the stream, with nothing more.
func (d *dialog) expectClosed() {
	d.t.Helper()
	rest, err := io.ReadAll(d.r)
	if len(rest) > 0 || err != nil {
		d.t.Errorf("after the 421: %q, %v; want the end of the session", rest, err)
	}
}

// A stopping listener tells each session that waits for a command that
// the service shuts down, with 421 (RFC 5321 3.8), at once, not after
// the grace given to messages in progress, and closes it; the log says
// so. A client that pipelined MAIL after the stop began gets the same.
func TestStopAnswersSessionsBetweenCommands(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	idle := dial(t, "unix", ts.unix)
	idle.cmd("EHLO c", "250")
	tx := dial(t, "tcp", ts.tcp)
	tx.cmd("EHLO c", "250")
	tx.cmd("MAIL FROM:<a@b>", "250")
	tx.cmd("RCPT TO:<me@testhost.example>", "250")
	start := time.Now()
	done := closing(ts, 5*time.Second)
	for _, d := range []*dialog{idle, tx} {
		d.c.SetDeadline(time.Now().Add(3 * time.Second))
		if r := d.expect("421"); r != "421 4.3.2 Service shutting down" {
			t.Errorf("reply %q", r)
		}
		d.expectClosed()
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the 421 came after %v", d)
	}
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Error("Close waits although no session is open")
	}
	l := ts.log.String()
	if strings.Count(l, `reply="421 4.3.2 Service shutting down"`) != 2 || !strings.Contains(l, "nrcpt=1") {
		t.Errorf("the log does not name the 421 of each session:\n%s", l)
	}
}

// A client in the middle of its message when the stop begins may end
// it within the grace: it gets its 250, and then the 421; the message
// is queued, and Close does not wait out the grace.
func TestStopLetsMessageFinish(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@b>", "250")
	d.cmd("RCPT TO:<me@testhost.example>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: finishes\r\n\r\n")
	start := time.Now()
	done := closing(ts, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	d.send("body\r\n.\r\n")
	d.expect("250 2.0.0 Ok: queued as ")
	d.expect("421 4.3.2 Service shutting down")
	d.expectClosed()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Error("Close waits although no session is open")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
	if q := queued(t, ts.cfg); len(q) != 1 {
		t.Errorf("%d queued, want 1", len(q))
	}
}

// A message not ended within the grace is cut off, and its client told
// so before the session is closed: in DATA, within a BDAT chunk and
// between two chunks alike, 421 (the service shuts down: the client
// tries again later), which is what the log names. Nothing is queued,
// no draft is left.
func TestStopCutsMessagesWith421(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	var ds []*dialog
	for i := range 3 {
		d := dial(t, "tcp", ts.tcp)
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@b>", "250")
		d.cmd("RCPT TO:<me@testhost.example>", "250")
		switch i {
		case 0:
			d.cmd("DATA", "354")
			d.send("Subject: half\r\n\r\nhalf\r\n")
		case 1:
			d.send("BDAT 100000 LAST\r\nSubject: half\r\n\r\nhalf\r\n")
		case 2:
			d.send("BDAT 9\r\nSubject: ")
			d.expect("250")
		}
		ds = append(ds, d)
	}
	time.Sleep(100 * time.Millisecond)
	done := closing(ts, 300*time.Millisecond)
	for i, d := range ds {
		d.c.SetDeadline(time.Now().Add(5 * time.Second))
		if r := d.expect("421"); r != "421 4.3.2 Service shutting down: message transfer aborted, nothing queued" {
			t.Errorf("session %d: reply %q", i, r)
		}
		d.expectClosed()
	}
	<-done
	l := ts.log.String()
	if n := strings.Count(l, `reply="421 4.3.2 Service shutting down: message transfer aborted, nothing queued"`); n != 3 || strings.Contains(l, "451") {
		t.Errorf("the log names %d such replies, want 3:\n%s", n, l)
	}
	if q := queued(t, ts.cfg); len(q) != 0 {
		t.Errorf("%d queued", len(q))
	}
	if dr := drafts(ts.cfg); len(dr) != 0 {
		t.Errorf("drafts left: %v", dr)
	}
}
