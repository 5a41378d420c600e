package smtpd

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"homepost/config"
)

// Listen opens what cfg's [smtp] table names: the Unix socket, and the
// loopback TCP addresses of listen, leaving out those in have (listeners
// that systemd passed, by address). The caller must hold the agent's
// lock: a socket file left by an agent that died is replaced.
func Listen(cfg *config.Config, have []net.Listener) ([]net.Listener, error) {
	got := map[string]bool{}
	for _, l := range have {
		got[l.Addr().Network()+" "+l.Addr().String()] = true
		// "localhost:PORT" in the configuration is any loopback
		// socket systemd passed on that port.
		if ta, ok := l.Addr().(*net.TCPAddr); ok && ta.IP.IsLoopback() {
			got["tcp localhost:"+strconv.Itoa(ta.Port)] = true
		}
	}
	var out []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, l := range out {
			l.Close()
		}
		return nil, err
	}
	if !got["unix "+cfg.SMTP.Socket] {
		l, err := ListenUnix(cfg.SMTP.Socket)
		if err != nil {
			return fail(err)
		}
		out = append(out, l)
	}
	if len(cfg.SMTP.Listen) > 0 {
		if err := EnsureSecret(cfg.SMTP.SecretFile); err != nil {
			return fail(err)
		}
	}
	for _, a := range cfg.SMTP.Listen {
		if got["tcp "+a] {
			continue
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			return fail(fmt.Errorf("listen on %s: %w", a, err))
		}
		// The configuration allows loopback only; make sure of what
		// the name became.
		if ta, ok := l.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
			l.Close()
			return fail(fmt.Errorf("listen on %s: %s is not a loopback address", a, l.Addr()))
		}
		out = append(out, l)
	}
	return out, nil
}

// ListenUnix listens on a Unix socket at path, in a directory that it
// creates (or narrows) to mode 0700 so that only the user can connect.
// A socket file already there is removed first: no agent listens on it,
// as the caller holds the agent's lock.
func ListenUnix(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return nil, fmt.Errorf("%s belongs to uid %d, not to this user: it cannot keep others from the socket", dir, sys.Uid)
	}
	if st.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("make %s mode 0700: %w", dir, err)
		}
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// The socket file goes with the listener.
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	return l, nil
}
