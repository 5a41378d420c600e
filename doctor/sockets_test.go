package doctor

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// The kernel's tables give each address as 32-bit words in the
// machine's byte order; listenerInodes takes the exact address before
// the wildcard, and only listening sockets.
func TestListenerInodes(t *testing.T) {
	dir := t.TempDir()
	old := procRoot
	t.Cleanup(func() { procRoot = old })
	procRoot = dir
	os.MkdirAll(filepath.Join(dir, "net"), 0o700)
	// 127.0.0.1:2525 listening (inode 11), 0.0.0.0:2525 listening (12),
	// 127.0.0.1:2525 established (13), [::1]:2525 listening (14).
	v4 := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 0100007F:09DD 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 11 1 0 100 0 0 10 0\n" +
		"   1: 00000000:09DD 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12 1 0 100 0 0 10 0\n" +
		"   2: 0100007F:09DD 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 13 1 0 100 0 0 10 0\n"
	v6 := "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 00000000000000000000000001000000:09DD 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 14 1 0 100 0 0 10 0\n"
	os.WriteFile(filepath.Join(dir, "net", "tcp"), []byte(v4), 0o600)
	os.WriteFile(filepath.Join(dir, "net", "tcp6"), []byte(v6), 0o600)
	for _, c := range []struct {
		ip   string
		port int
		want []uint64
	}{
		{"127.0.0.1", 2525, []uint64{11}},
		{"127.0.0.2", 2525, []uint64{12}},
		{"::1", 2525, []uint64{14}},
		{"127.0.0.1", 2526, nil},
	} {
		got, err := listenerInodes(net.ParseIP(c.ip), c.port)
		if err != nil || len(got) != len(c.want) || (len(got) > 0 && got[0] != c.want[0]) {
			t.Errorf("listenerInodes(%s, %d) = %v, %v; want %v", c.ip, c.port, got, err, c.want)
		}
	}
}
