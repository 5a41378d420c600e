package smtpd

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/config"
)

func stopTestConfig(t *testing.T) *config.Config {
	dir := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", dir, "Alice", os.Getuid()))
	cfg.Outbox = filepath.Join(dir, "outbox")
	cfg.SMTP.Socket = filepath.Join(dir, "run", "smtp")
	cfg.SMTP.SecretFile = filepath.Join(dir, "secret")
	cfg.SMTP.Listen = []string{freeAddr(t)}
	return cfg
}

// Stop lets sessions finish for a few seconds, then closes the rest: a
// session left open across Stop is served no more once it returns.
// go-smtp's Close after a Shutdown that timed out closes nothing, so an
// idle session went on being served (and could queue mail) after the
// agent had stopped its listener. An idle session is answered 421 and
// closed at once.
func TestStopClosesLingeringSessions(t *testing.T) {
	cfg := stopTestConfig(t)
	svc, _, err := StartService(cfg, nil)
	if err != nil || svc == nil {
		t.Fatalf("start: %v", err)
	}
	c, r := dialGreeting(t, "tcp", cfg.SMTP.Listen[0])
	defer c.Close()
	start := time.Now()
	svc.Stop()
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %v with only an idle session open", d)
	}
	if got := ehlo(t, c, r); got != "" && got != "421 4.3.2 Service shutting down\r\n" {
		t.Errorf("session still served after Stop returned: %q", got)
	}
	if got := ehlo(t, c, r); got != "" {
		t.Errorf("session still served after its 421: %q", got)
	}
}

// Each reload that changes the configuration makes a new server for the
// sockets kept; the servers before it are dropped once they serve no
// socket and no session, instead of piling up for as long as the agent
// runs. A server with a session still open is kept (Stop closes it).
func TestReconfigureDropsIdleServers(t *testing.T) {
	cfg := stopTestConfig(t)
	svc, _, err := StartService(cfg, nil)
	if err != nil || svc == nil {
		t.Fatalf("start: %v", err)
	}
	defer svc.Stop()
	open, r := dialGreeting(t, "tcp", cfg.SMTP.Listen[0])
	defer open.Close()
	for i := range 20 {
		next := *cfg
		next.Hostname = "host" + string(rune('a'+i)) + ".example"
		if _, _, err := svc.Reconfigure(&next, false); err != nil {
			t.Fatal(err)
		}
	}
	svc.mu.Lock()
	n := len(svc.servers)
	svc.mu.Unlock()
	// The first (its session open), the last but one (dropped at the
	// next reload) and the current.
	if n > 3 {
		t.Errorf("%d servers kept after 20 reloads", n)
	}
	if got := ehlo(t, open, r); got == "" {
		t.Error("the session open across the reloads was closed")
	}
}

// A reload that names a port another program holds keeps the address it
// no longer names open, saying so, rather than leave no TCP listener;
// a reload once the port is free opens it and closes the old one, even
// with the configuration unchanged.
func TestReconfigureKeepsOldPortUntilNewOpens(t *testing.T) {
	cfg := stopTestConfig(t)
	svc, _, err := StartService(cfg, nil)
	if err != nil || svc == nil {
		t.Fatalf("start: %v", err)
	}
	defer svc.Stop()
	old := cfg.SMTP.Listen[0]
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	next := *cfg
	next.SMTP.Listen = []string{busy.Addr().String()}
	_, closed, err := svc.Reconfigure(&next, false)
	if err == nil || !strings.Contains(err.Error(), "still listening on tcp:"+old) || len(closed) != 0 {
		t.Errorf("a busy new port: closed %v, err %v", closed, err)
	}
	c, r := dialGreeting(t, "tcp", old)
	if got := ehlo(t, c, r); got == "" {
		t.Error("the old port no longer answers")
	}
	c.Close()

	busy.Close()
	again := next
	opened, closed, err := svc.Reconfigure(&again, true)
	if err != nil || len(opened) != 1 || len(closed) != 1 || closed[0] != "tcp:"+old {
		t.Errorf("the port freed: opened %v, closed %v, err %v", opened, closed, err)
	}
	c2, r2 := dialGreeting(t, "tcp", next.SMTP.Listen[0])
	if got := ehlo(t, c2, r2); got == "" {
		t.Error("the new port does not answer")
	}
	c2.Close()
	if c, err := net.DialTimeout("tcp", old, time.Second); err == nil {
		c.Close()
		t.Error("the old port still answers")
	}
}

// An address another program holds is tried again at a reload asked
// for (SIGHUP) or one that changes [smtp], and reported again then; a
// reload for another reason (a changed .forward or aliases file, or
// another table of config.toml) leaves it, and does not report the same
// "address already in use" once more.
func TestReconfigureRetriesBusyPortWhenAsked(t *testing.T) {
	cfg := stopTestConfig(t)
	busy, err := net.Listen("tcp", cfg.SMTP.Listen[0])
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	svc, _, err := StartService(cfg, nil)
	if err == nil || svc == nil {
		t.Fatalf("start with the port taken: %v %v", svc, err)
	}
	defer svc.Stop()
	same := *cfg
	if opened, _, err := svc.Reconfigure(&same, false); err != nil || len(opened) != 0 {
		t.Errorf("a reload not asked for, [smtp] unchanged: opened %v, err %v", opened, err)
	}
	other := same
	other.Hostname = "other.example"
	if opened, _, err := svc.Reconfigure(&other, false); err != nil || len(opened) != 0 {
		t.Errorf("a reload not asked for, another table changed: opened %v, err %v", opened, err)
	}
	if _, _, err := svc.Reconfigure(&other, true); err == nil || !strings.Contains(err.Error(), cfg.SMTP.Listen[0]) {
		t.Errorf("SIGHUP, the port still taken: err %v", err)
	}
	bigger := other
	bigger.SMTP.MaxMessageSize = cfg.SMTP.MaxMessageSize + 1
	if _, _, err := svc.Reconfigure(&bigger, false); err == nil {
		t.Error("[smtp] changed, the port still taken: no error")
	}
	if _, _, err := svc.Reconfigure(&bigger, false); err != nil {
		t.Errorf("the same again, not asked for: %v", err)
	}
	busy.Close()
	if opened, _, err := svc.Reconfigure(&bigger, true); err != nil || len(opened) != 1 {
		t.Errorf("SIGHUP, the port freed: opened %v, err %v", opened, err)
	}
	c, r := dialGreeting(t, "tcp", cfg.SMTP.Listen[0])
	defer c.Close()
	if got := ehlo(t, c, r); got == "" {
		t.Error("the freed port does not answer")
	}
}

// A message cut off by Close (the agent stopping while clients are in
// the middle of DATA or of a BDAT chunk) has its draft removed from
// outbox/tmp by the time Close returns: the process may exit right
// after, and a draft left behind would lie in tmp/ until the agent's
// cleanup of abandoned files, 36 hours later. Nothing is queued, and
// the messages are logged as transfers aborted, not as failures to
// queue.
func TestCloseRemovesCutDrafts(t *testing.T) {
	for round := 0; round < 4; round++ {
		ts := startServer(t, os.Getuid(), nil)
		for i := 0; i < 8; i++ {
			d := dial(t, "tcp", ts.tcp)
			d.cmd("EHLO c", "250")
			d.cmd("MAIL FROM:<a@b>", "250")
			d.cmd("RCPT TO:<me@testhost.example>", "250")
			body := "Subject: half\r\n\r\n" + strings.Repeat("z", 100000+i)
			if i%2 == 0 {
				d.cmd("DATA", "354")
				d.send(body)
			} else {
				d.send("BDAT 500000 LAST\r\n" + body)
			}
		}
		for end := time.Now().Add(10 * time.Second); len(drafts(ts.cfg)) < 8 && time.Now().Before(end); {
			time.Sleep(5 * time.Millisecond)
		}
		ts.s.Close(0)
		if dr := drafts(ts.cfg); len(dr) != 0 {
			t.Fatalf("round %d: %d drafts left in outbox/tmp after Close: %v", round, len(dr), dr)
		}
		if q := queued(t, ts.cfg); len(q) != 0 {
			t.Fatalf("round %d: %d queued", round, len(q))
		}
		// The listener's own ending is no failure to queue.
		if l := ts.log.String(); strings.Contains(l, "level=ERROR") {
			t.Fatalf("round %d: an error logged:\n%s", round, l)
		}
	}
}

// The secret removed while the listener serves a TCP address is made
// anew when the agent reads its configuration again, the same as
// before (SIGHUP), and the log says so.
func TestReconfigureMakesMissingSecret(t *testing.T) {
	cfg := stopTestConfig(t)
	var log logBuf
	svc, _, err := StartService(cfg, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil || svc == nil {
		t.Fatalf("start: %v", err)
	}
	defer svc.Stop()
	old, err := ReadSecret(cfg.SMTP.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(cfg.SMTP.SecretFile)
	same := *cfg
	if _, _, err := svc.Reconfigure(&same, true); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSecret(cfg.SMTP.SecretFile)
	if err != nil || s == old {
		t.Errorf("after the reload: %q, %v", s, err)
	}
	if !strings.Contains(log.String(), "smtp: new secret for clients of other users") {
		t.Errorf("log:\n%s", log.String())
	}
}
