package smtpd

import (
	"bufio"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"homepost/config"
)

// foreignTCP makes every TCP client another user's for the test.
func foreignTCP(t *testing.T) {
	saved := tcpPeerUID
	tcpPeerUID = func(net.Conn) (int, error) { return -1, errors.New("test: another user") }
	t.Cleanup(func() { tcpPeerUID = saved })
}

// firstLine connects and reads the greeting line.
func firstLine(t *testing.T, network, addr string) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return c, line
}

// Another user's clients that hold sessions open without logging in,
// sending NOOP, do not take the user's slots: they have a pool of their
// own (half of max_sessions), and the user's Unix socket still gets all
// of max_sessions.
func TestForeignSessionsCannotLockOutUser(t *testing.T) {
	foreignTCP(t)
	saved := slotWait
	slotWait = 300 * time.Millisecond
	t.Cleanup(func() { slotWait = saved })
	ts := startServer(t, os.Getuid(), func(c *config.Config) { c.SMTP.MaxSessions = 4 })
	var held []*dialog
	for range foreignMax(4) {
		d := dial(t, "tcp", ts.tcp)
		d.cmd("EHLO intruder", "250")
		held = append(held, d)
	}
	if _, line := firstLine(t, "tcp", ts.tcp); !strings.HasPrefix(line, "421 4.3.2") {
		t.Errorf("a foreign session past its pool: %q", line)
	}
	for _, d := range held {
		d.cmd("NOOP", "250")
	}
	for range 4 {
		d := dial(t, "unix", ts.unix)
		d.cmd("EHLO me", "250")
		d.cmd("MAIL FROM:<me@testhost.example>", "250")
	}
	if _, line := firstLine(t, "unix", ts.unix); !strings.HasPrefix(line, "421 4.3.2") {
		t.Errorf("the user's session past max_sessions: %q", line)
	}
}

// A session of another user must log in within authWait of its
// connection; NOOP does not extend it. Once logged in it has no such
// deadline, and takes one of the user's slots: when none is free, AUTH
// is answered 454.
func TestForeignSessionMustAuthInTime(t *testing.T) {
	foreignTCP(t)
	saved, savedSlot := authWait, slotWait
	authWait, slotWait = 600*time.Millisecond, 300*time.Millisecond
	t.Cleanup(func() { authWait, slotWait = saved, savedSlot })
	ts := startServer(t, os.Getuid(), func(c *config.Config) { c.SMTP.MaxSessions = 2 })
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO intruder", "250")
	start := time.Now()
	var last string
	for time.Since(start) < 3*time.Second {
		d.send("NOOP\r\n")
		line, err := d.r.ReadString('\n')
		if err != nil {
			break
		}
		last = line
		if !strings.HasPrefix(line, "250") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if el := time.Since(start); el > 2*time.Second || !strings.HasPrefix(last, "421") {
		t.Errorf("a foreign session sending NOOP lasted %v, last reply %q; want 421 after about %v", el, last, authWait)
	}

	secret, err := ReadSecret(ts.cfg.SMTP.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	good := "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00"+secret))
	// The user's two slots taken: a foreign client may connect, but
	// not log in.
	u1, u2 := dial(t, "unix", ts.unix), dial(t, "unix", ts.unix)
	f := dial(t, "tcp", ts.tcp)
	f.cmd("EHLO c", "250")
	f.cmd(good, "454 4.3.2")
	u1.cmd("QUIT", "221")
	time.Sleep(100 * time.Millisecond)
	f.cmd(good, "235")
	time.Sleep(2 * authWait)
	f.cmd("MAIL FROM:<a@b>", "250")
	// It holds a slot of the user's now.
	if _, line := firstLine(t, "unix", ts.unix); !strings.HasPrefix(line, "421 4.3.2") {
		t.Errorf("a third session of max_sessions 2: %q", line)
	}
	u2.cmd("NOOP", "250")
}
