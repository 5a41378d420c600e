package smtpd

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/config"
)

// An existing directory that others may use is not narrowed to 0700 but
// refused, with its path; homepost's own directory (the default socket's)
// is narrowed as before.
func TestListenUnixRefusesSharedDirectory(t *testing.T) {
	base := t.TempDir()
	for _, mode := range []os.FileMode{0o755, 0o750, 0o1777, 0o711} {
		dir := filepath.Join(base, "d"+mode.String())
		os.Mkdir(dir, 0o700)
		os.Chmod(dir, mode)
		before, _ := os.Stat(dir)
		l, err := ListenUnix(filepath.Join(dir, "smtp.sock"))
		if err == nil {
			l.Close()
			t.Errorf("mode %v: a socket in a directory others can use", mode)
		} else if !strings.Contains(err.Error(), dir) {
			t.Errorf("mode %v: the error does not name the directory: %v", mode, err)
		}
		if after, _ := os.Stat(dir); after.Mode() != before.Mode() {
			t.Errorf("mode %v: the directory was changed to %v", before.Mode(), after.Mode())
		}
		if err := CheckSocketDir(dir); err == nil {
			t.Errorf("mode %v: CheckSocketDir passes", mode)
		}
	}
	// A private directory of the user's is used as it is.
	priv := filepath.Join(base, "priv")
	os.Mkdir(priv, 0o700)
	l, err := ListenUnix(filepath.Join(priv, "smtp"))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	// homepost's own directory is narrowed.
	own := filepath.Join(base, "own")
	os.Mkdir(own, 0o755)
	os.Chmod(own, 0o755)
	l, err = listenUnix(filepath.Join(own, "smtp"), true)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if st, _ := os.Stat(own); st.Mode().Perm() != 0o700 {
		t.Errorf("own directory mode %v", st.Mode())
	}
	cfg := config.Defaults(config.NewIdentity("alice", base, "Alice", os.Getuid()))
	cfg.StateDir = own
	if !ownDir(cfg, own) || ownDir(cfg, base) {
		t.Error("ownDir")
	}
	rt := filepath.Join(base, "rt")
	os.Mkdir(rt, 0o700)
	t.Setenv("XDG_RUNTIME_DIR", rt)
	if !ownDir(cfg, filepath.Join(rt, "homepost")) || ownDir(cfg, rt) {
		t.Error("ownDir of the runtime directory")
	}
	// One that does not exist is no runtime directory.
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(base, "missing"))
	if ownDir(cfg, filepath.Join(base, "missing", "homepost")) {
		t.Error("ownDir of a runtime directory that does not exist")
	}
}

// An address that cannot be opened (another program holds the port)
// does not keep the Unix socket and the other addresses from being
// served; the error names it.
func TestListenOneFailureKeepsTheOthers(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", dir, "Alice", os.Getuid()))
	cfg.SMTP.Socket = filepath.Join(dir, "run", "smtp")
	cfg.SMTP.SecretFile = filepath.Join(dir, "secret")
	cfg.SMTP.Listen = []string{busy.Addr().String(), "127.0.0.1:0"}
	ls, err := Listen(cfg, nil)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Errorf("error %v, want one naming %s", err, busy.Addr())
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.Addr().Network())
	}
	if strings.Join(got, " ") != "unix tcp" {
		t.Errorf("listening on %v, want the Unix socket and the free address", got)
	}
	// A refused socket directory does not stop TCP either.
	os.Chmod(dir, 0o755)
	cfg.SMTP.Socket = filepath.Join(dir, "smtp")
	cfg.SMTP.Listen = []string{"127.0.0.1:0"}
	ls2, err := Listen(cfg, nil)
	for _, l := range ls2 {
		l.Close()
	}
	if err == nil || len(ls2) != 1 || ls2[0].Addr().Network() != "tcp" {
		t.Errorf("a refused directory: %d listeners, %v", len(ls2), err)
	}
}

// "localhost:PORT" is 127.0.0.1 and [::1] on the same port; where there
// is no IPv6, 127.0.0.1 alone, without an error.
func TestListenLocalhostBothFamilies(t *testing.T) {
	ls, err := listenTCP("localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	v6 := true
	if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
		v6 = false
	} else {
		l.Close()
	}
	want := 1
	if v6 {
		want = 2
	}
	if len(ls) != want {
		t.Fatalf("%d listeners, want %d", len(ls), want)
	}
	port := ls[0].Addr().(*net.TCPAddr).Port
	for i, host := range []string{"127.0.0.1", "::1"}[:want] {
		ta := ls[i].Addr().(*net.TCPAddr)
		if ta.IP.String() != host || ta.Port != port {
			t.Errorf("listener %d on %s, want %s port %d", i, ta, host, port)
		}
		c, err := net.Dial("tcp", ta.String())
		if err != nil {
			t.Errorf("dial %s: %v", host, err)
		} else {
			c.Close()
		}
	}
}

// ListenerUID names the owner of the listening socket on an address,
// exact or wildcard.
func TestListenerUID(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if uid, err := ListenerUID(l.Addr().(*net.TCPAddr)); err != nil || uid != os.Getuid() {
		t.Errorf("ListenerUID = %d, %v; want %d", uid, err, os.Getuid())
	}
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:09C5 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 11 1 0 100 0 0 10 0
   1: 0100007F:09C6 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1002        0 12 1 0 100 0 0 10 0
   2: 0100007F:09C5 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1003        0 13 1 0 100 0 0 10 0
`
	p := filepath.Join(t.TempDir(), "tcp")
	os.WriteFile(p, []byte(table), 0o600)
	lo := net.IPv4(127, 0, 0, 1)
	if uid, err := listenerUIDFrom([]string{p}, &net.TCPAddr{IP: lo, Port: 0x09C5}); uid != 1001 || err != nil {
		t.Errorf("wildcard: %d %v", uid, err)
	}
	if uid, err := listenerUIDFrom([]string{p}, &net.TCPAddr{IP: lo, Port: 0x09C6}); uid != 1002 || err != nil {
		t.Errorf("exact: %d %v", uid, err)
	}
	if _, err := listenerUIDFrom([]string{p}, &net.TCPAddr{IP: lo, Port: 0x09C7}); err == nil {
		t.Error("no listener: no error")
	}
}
