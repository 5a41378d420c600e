package smtpd

import (
	"bufio"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A socket that its process has closed is listed with uid 0 and inode 0
// (orphaned, or a FIN_WAIT2 time-wait entry): its owner is unknown, and
// the lookup fails rather than name root.
func TestFindSocketOrphaned(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:09C5 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 11 1 0 100 0 0 10 0
   1: 0100007F:9C40 0100007F:09C5 07 00000000:00000000 00:00000000 00000000     0        0 0 1 0 100 0 0 10 0
   2: 0100007F:9C41 0100007F:09C5 05 00000000:00000000 03:00000F9E 00000000     0        0 0 3 0000000000000000
`
	srv := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0x09C5}
	for _, port := range []int{0x9C40, 0x9C41} {
		cli := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
		uid, found, err := findSocket(bufio.NewScanner(strings.NewReader(table)), cli, srv)
		if found || !errors.Is(err, errOrphaned) {
			t.Errorf("port %x: findSocket = %d, %v, %v; want errOrphaned", port, uid, found, err)
		}
	}
	// Through peerUIDFrom, from files, as PeerUID reads them.
	dir := t.TempDir()
	tcp := filepath.Join(dir, "tcp")
	os.WriteFile(tcp, []byte(table), 0o600)
	uid, err := peerUIDFrom([]string{tcp, filepath.Join(dir, "tcp6")}, srv, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0x9C40})
	if err == nil || uid != -1 {
		t.Errorf("peerUIDFrom of an orphaned socket = %d, %v; want an error", uid, err)
	}
	uid, err = peerUIDFrom([]string{tcp}, srv, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0x9C99})
	if !errors.Is(err, errNoSocket) || uid != -1 {
		t.Errorf("peerUIDFrom of a socket not listed = %d, %v; want errNoSocket", uid, err)
	}
}

// A real client that sends its whole transaction and closes before the
// server accepts: its socket is orphaned by then, and PeerUID does not
// give it an owner (it used to say 0: root).
func TestPeerUIDOfClosedClient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root>\r\nDATA\r\nSubject: s\r\n\r\nno auth\r\n.\r\nQUIT\r\n"))
	c.Close()
	time.Sleep(50 * time.Millisecond)
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if uid, err := PeerUID(s); err == nil {
		t.Errorf("PeerUID of a client that has closed = %d, nil; want an error (owner unknown)", uid)
	} else {
		t.Logf("PeerUID: %v", err)
	}
}

// A server working for root (uid 0): a pipelined transaction from a
// client of another user that closes at once is refused, not queued as
// root's. (As root the client would be root's own; test/smtpd runs it
// as a second user.)
func TestClosedClientNotRoot(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("SKIP: the test's clients are root's own when it runs as root (test/smtpd tries a second user)")
	}
	ts := startServer(t, 0, nil)
	for range 20 {
		c, err := net.Dial("tcp", ts.tcp)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root>\r\nDATA\r\nSubject: s\r\n\r\nno auth\r\n.\r\nQUIT\r\n"))
		c.Close()
	}
	time.Sleep(500 * time.Millisecond)
	if q := queued(t, ts.cfg); len(q) != 0 {
		t.Errorf("%d of 20 messages from clients that closed at once were queued as root's", len(q))
	}
}
