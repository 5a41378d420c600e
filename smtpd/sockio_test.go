package smtpd

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"homepost/config"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		got <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-got
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// sockIO carries bytes both ways unchanged, a write larger than the
// socket's buffers included (it waits for the reader, never drops or
// repeats a byte), and ends with io.EOF when the peer closes.
func TestSockIORoundTrip(t *testing.T) {
	a, b := tcpPair(t)
	s := newSockIO(b, nil)
	if s == nil {
		t.Fatal("a TCP connection has no raw I/O")
	}
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(rand.IntN(256))
	}
	done := make(chan error, 1)
	go func() {
		n, err := s.Write(big)
		if err == nil && n != len(big) {
			err = io.ErrShortWrite
		}
		done <- err
	}()
	got := make([]byte, len(big))
	time.Sleep(50 * time.Millisecond) // the writer fills the buffers and waits
	if _, err := io.ReadFull(a, got); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("the bytes read are not the bytes written")
	}

	go func() {
		a.Write([]byte("EHLO x\r\n"))
		a.Close()
	}()
	all, err := io.ReadAll(s)
	if err != nil || string(all) != "EHLO x\r\n" {
		t.Fatalf("read %q, %v; want the line, then EOF", all, err)
	}
	if n, err := s.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("after the peer closed: %d, %v; want 0, EOF", n, err)
	}
}

// A read deadline ends a read with the timeout error go-smtp turns into
// its idle-timeout reply, as net.Conn's own read does, spinning or not.
func TestSockIODeadline(t *testing.T) {
	for _, spin := range []bool{false, true} {
		testSockIODeadline(t, func() bool { return spin })
	}
}

func testSockIODeadline(t *testing.T, spin func() bool) {
	_, b := tcpPair(t)
	s := newSockIO(b, spin)
	b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := s.Read(make([]byte, 16))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v; want a net.Error that is a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the deadline took %v", d)
	}
	b.Close()
	if _, err := s.Read(make([]byte, 16)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read of a closed connection: %v; want net.ErrClosed", err)
	}
}

// A connection without a descriptor (a pipe) has no raw I/O: the session
// uses the connection itself.
func TestSockIOPipe(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if newSockIO(a, nil) != nil {
		t.Fatal("a pipe got raw I/O")
	}
}

// A read that finds nothing spins for what comes within spinWait, while
// spin allows, and is then served without waiting for the poller; when
// spin does not allow, or nothing comes, it waits for the poller, once.
func TestSockIOSpins(t *testing.T) {
	// Each sockIO gets its own wait: the package's spinWait is read by
	// the sessions of other tests' servers still running, and changing
	// it raced with them (the race detector failed CI on it).
	const long = 5 * time.Second // longer than the peer takes, however slow the machine
	for _, tc := range []struct {
		spin      bool
		wantWaits int
	}{
		{true, 0},
		{false, 1},
	} {
		a, b := tcpPair(t)
		asked := 0
		s := newSockIO(b, func() bool { asked++; return tc.spin })
		s.wait = long
		go func() {
			time.Sleep(20 * time.Millisecond)
			a.Write([]byte("MAIL FROM:<a@example.org>\r\n"))
		}()
		buf := make([]byte, 64)
		n, err := s.Read(buf)
		if err != nil || string(buf[:n]) != "MAIL FROM:<a@example.org>\r\n" {
			t.Fatalf("spin %v: read %q, %v", tc.spin, buf[:n], err)
		}
		if s.waits != tc.wantWaits || asked == 0 {
			t.Errorf("spin %v: the read waited for the poller %d times (want %d), asked %d times", tc.spin, s.waits, tc.wantWaits, asked)
		}
	}

	// Nothing comes within the wait: one spin, then the poller.
	a, b := tcpPair(t)
	s := newSockIO(b, func() bool { return true })
	s.wait = 10 * time.Millisecond
	go func() {
		time.Sleep(100 * time.Millisecond)
		a.Write([]byte("QUIT\r\n"))
	}()
	start := time.Now()
	n, err := s.Read(make([]byte, 64))
	if err != nil || n != 6 {
		t.Fatalf("read %d, %v", n, err)
	}
	if s.waits != 1 || time.Since(start) < 100*time.Millisecond {
		t.Errorf("waits %d after %v, want 1 after the peer's 100 ms", s.waits, time.Since(start))
	}
}

// The server's sessions spin only while there is one of them, and only
// the user's own.
func TestSpinOnlyAlone(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", dir, "Alice", os.Getuid()))
	srv := New(cfg, nil)
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	l := &listener{Listener: nl, s: srv}
	accept := func() *conn {
		t.Helper()
		c, err := net.Dial("tcp", nl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		sc, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return sc.(*conn)
	}
	spins := func(c *conn) bool { return c.io.(*sockIO).spin() }
	a := accept()
	if !spins(a) {
		t.Error("the only session does not spin")
	}
	b := accept()
	if spins(a) || spins(b) {
		t.Error("a session spins beside another")
	}
	b.Close()
	if !spins(a) {
		t.Error("the session left alone does not spin")
	}
	a.trusted = false // a client of another user, not logged in
	if spins(a) {
		t.Error("another user's session spins")
	}
	a.Close()
}
