package smtpd

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// ListenersFrom lists the listening sockets that take connections to an
// address, with their owner and inode, from the kernel's tables (each
// address as 32-bit words in the machine's byte order): those bound to
// the address itself, else those on the wildcard address of its port;
// never a connected socket. homepost check and ListenerUID share it.
func TestListenersFrom(t *testing.T) {
	dir := t.TempDir()
	// 127.0.0.1:2525 listening (inode 11, and 15 with SO_REUSEPORT),
	// 0.0.0.0:2525 listening (12), 127.0.0.1:2525 established (13),
	// [::1]:2525 listening (14).
	v4 := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 0100007F:09DD 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 11 1 0 100 0 0 10 0\n" +
		"   1: 00000000:09DD 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1002        0 12 1 0 100 0 0 10 0\n" +
		"   2: 0100007F:09DD 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1003        0 13 1 0 100 0 0 10 0\n" +
		"   3: 0100007F:09DD 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 15 1 0 100 0 0 10 0\n"
	v6 := "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 00000000000000000000000001000000:09DD 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1004        0 14 1 0 100 0 0 10 0\n"
	tables := []string{filepath.Join(dir, "tcp"), filepath.Join(dir, "tcp6"), filepath.Join(dir, "none")}
	os.WriteFile(tables[0], []byte(v4), 0o600)
	os.WriteFile(tables[1], []byte(v6), 0o600)
	for _, c := range []struct {
		ip     string
		port   int
		inodes []uint64
		uid    int
	}{
		{"127.0.0.1", 2525, []uint64{11, 15}, 1001},
		{"127.0.0.2", 2525, []uint64{12}, 1002},
		{"::1", 2525, []uint64{14}, 1004},
		{"127.0.0.1", 2526, nil, -1},
	} {
		ls, err := ListenersFrom(tables, &net.TCPAddr{IP: net.ParseIP(c.ip), Port: c.port})
		var inodes []uint64
		for _, l := range ls {
			inodes = append(inodes, l.Inode)
			if l.UID != c.uid || l.Port != c.port {
				t.Errorf("%s:%d: listener %+v, want uid %d", c.ip, c.port, l, c.uid)
			}
		}
		if err != nil || !slices.Equal(inodes, c.inodes) {
			t.Errorf("ListenersFrom(%s:%d) = inodes %v, %v; want %v", c.ip, c.port, inodes, err, c.inodes)
		}
	}
	// The machine's own tables: a socket listening now is found, as
	// this user's.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if ls, err := Listeners(l.Addr().(*net.TCPAddr)); err != nil || len(ls) != 1 || ls[0].UID != os.Getuid() || ls[0].Inode == 0 {
		t.Errorf("Listeners(%s) = %+v, %v", l.Addr(), ls, err)
	}
}
