package smtpd

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"homepost/config"
)

// A reload hands the sockets that stay named from the old server to the
// new one without closing them: a client connecting all the while is
// never refused, a session open across the reload goes on, and new
// sessions follow the new settings (here SIZE). An address no longer
// named is closed, a new one opened.
func TestReconfigureKeepsSockets(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", dir, "Alice", os.Getuid()))
	cfg.Outbox = filepath.Join(dir, "outbox")
	cfg.SMTP.Socket = filepath.Join(dir, "run", "smtp")
	cfg.SMTP.SecretFile = filepath.Join(dir, "secret")
	cfg.SMTP.Listen = []string{freeAddr(t)}
	svc, where, err := StartService(cfg, nil)
	if err != nil || svc == nil {
		t.Fatalf("start: %v", err)
	}
	defer svc.Stop()
	if !strings.Contains(where, cfg.SMTP.Listen[0]) || !strings.Contains(where, cfg.SMTP.Socket) {
		t.Fatalf("where %q", where)
	}
	tcp := cfg.SMTP.Listen[0]
	open, r := dialGreeting(t, "tcp", tcp)
	defer open.Close()

	// Clients that connect over and over during the reloads.
	var stop atomic.Bool
	var refused atomic.Int32
	var wg sync.WaitGroup
	for _, nw := range [][2]string{{"tcp", tcp}, {"unix", cfg.SMTP.Socket}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				c, err := net.DialTimeout(nw[0], nw[1], 2*time.Second)
				if err != nil {
					refused.Add(1)
					continue
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if l, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(l, "220") {
					refused.Add(1)
				}
				c.Close()
			}
		}()
	}
	for i := range 5 {
		next := *cfg
		next.SMTP.MaxMessageSize = config.Size(1000 + i)
		opened, closed, err := svc.Reconfigure(&next, false)
		if err != nil || len(opened) != 0 || len(closed) != 0 {
			t.Fatalf("reload %d: opened %v, closed %v, %v", i, opened, closed, err)
		}
		cfg = &next
		time.Sleep(20 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if n := refused.Load(); n != 0 {
		t.Errorf("%d connections refused or not greeted during the reloads", n)
	}
	// The session opened before goes on.
	if ehlo(t, open, r) == "" {
		t.Error("the session open across the reloads ended")
	}
	c, r2 := dialGreeting(t, "unix", cfg.SMTP.Socket)
	defer c.Close()
	if got := ehlo(t, c, r2); !strings.Contains(got, "SIZE 1004") {
		t.Errorf("a new session does not follow the new settings:\n%s", got)
	}

	// Another address instead of the first.
	next := *cfg
	next.SMTP.Listen = []string{freeAddr(t)}
	opened, closed, err := svc.Reconfigure(&next, false)
	if err != nil || len(opened) != 1 || len(closed) != 1 {
		t.Fatalf("opened %v, closed %v, %v", opened, closed, err)
	}
	if c, err := net.Dial("tcp", tcp); err == nil {
		c.Close()
		t.Errorf("%s still answers", tcp)
	}
	c3, _ := dialGreeting(t, "tcp", next.SMTP.Listen[0])
	c3.Close()
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func dialGreeting(t *testing.T, nw, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout(nw, addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "220") {
		t.Fatalf("greeting on %s: %q %v", addr, l, err)
	}
	return c, r
}

// ehlo returns the server's EHLO reply, or "" when the session is gone.
func ehlo(t *testing.T, c net.Conn, r *bufio.Reader) string {
	t.Helper()
	if _, err := c.Write([]byte("EHLO client\r\n")); err != nil {
		return ""
	}
	var b strings.Builder
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return ""
		}
		b.WriteString(l)
		if len(l) >= 4 && l[3] == ' ' {
			return b.String()
		}
	}
}
