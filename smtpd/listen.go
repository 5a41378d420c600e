package smtpd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"homepost/config"
)

// Listen opens what cfg's [smtp] table names: the Unix socket, and the
// loopback TCP addresses of listen, leaving out those in have (listeners
// that systemd passed, by address). An address that cannot be opened
// (another program holds the port, the socket's directory is not
// private) does not keep the others from being served: Listen returns
// the listeners it opened, and an error naming each address that it
// could not. The caller must hold the agent's lock: a socket file left
// by an agent that died is replaced.
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
	var errs []error
	if !got["unix "+cfg.SMTP.Socket] {
		l, err := listenUnix(cfg.SMTP.Socket, ownDir(cfg, filepath.Dir(cfg.SMTP.Socket)))
		if err != nil {
			errs = append(errs, err)
		} else {
			out = append(out, l)
		}
	}
	if len(cfg.SMTP.Listen) > 0 {
		// Without it only clients of other users are refused.
		if _, err := EnsureSecret(cfg.SMTP.SecretFile); err != nil {
			errs = append(errs, err)
		}
	}
	for _, a := range cfg.SMTP.Listen {
		if got["tcp "+a] {
			continue
		}
		ls, err := listenTCP(a)
		out = append(out, ls...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// listenTCP listens on a loopback address. The name localhost is both
// 127.0.0.1 and [::1], as Postfix's inet_interfaces = localhost has it
// (a client may try either first); [::1] is left out without an error
// where the machine has no IPv6.
func listenTCP(a string) ([]net.Listener, error) {
	host, port, err := net.SplitHostPort(a)
	if err != nil || !strings.EqualFold(host, "localhost") {
		l, err := listenLoopback(a, a)
		if err != nil {
			return nil, err
		}
		return []net.Listener{l}, nil
	}
	l4, err := listenLoopback(net.JoinHostPort("127.0.0.1", port), a)
	if err != nil {
		return nil, err
	}
	if port == "0" {
		port = strconv.Itoa(l4.Addr().(*net.TCPAddr).Port)
	}
	l6, err := listenLoopback(net.JoinHostPort("::1", port), a)
	if err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EPROTONOSUPPORT) {
			return []net.Listener{l4}, nil // no IPv6
		}
		return []net.Listener{l4}, err
	}
	return []net.Listener{l4, l6}, nil
}

// listenLoopback listens on addr, the configuration's a or one of the
// addresses it names, and makes sure that it is on loopback.
func listenLoopback(addr, a string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if addr != a {
			return nil, fmt.Errorf("listen on %s (%s): %w", addr, a, err)
		}
		return nil, fmt.Errorf("listen on %s: %w", a, err)
	}
	// The configuration allows loopback only; make sure of what the
	// name became.
	if ta, ok := l.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		l.Close()
		return nil, fmt.Errorf("listen on %s: %s is not a loopback address", a, l.Addr())
	}
	return l, nil
}

// ownDir reports whether dir is one of homepost's own directories, where
// the default socket is: $XDG_RUNTIME_DIR/homepost (when that is a
// runtime directory, config.RuntimeDir) or the state directory. The
// agent may narrow those to mode 0700.
func ownDir(cfg *config.Config, dir string) bool {
	if dir == filepath.Clean(cfg.StateDir) {
		return true
	}
	rt, _ := config.RuntimeDir()
	return rt != "" && dir == filepath.Join(rt, "homepost")
}

// ListenUnix listens on a Unix socket at path, in a directory that keeps
// other users from it (CheckSocketDir): one that it creates, mode 0700,
// or one of the user's that is open to no one else. A socket file
// already there is removed first: no agent listens on it, as the caller
// holds the agent's lock.
func ListenUnix(path string) (net.Listener, error) { return listenUnix(path, false) }

// CheckSocketDir says whether dir, where the socket is, keeps other
// users from it: it must be a directory of the user's that its group and
// others cannot enter or list (mode 0700 or narrower). One that does not
// exist is not an error: the agent creates it. A directory that others
// may use (the home directory, /tmp) is refused rather than narrowed,
// which would take it from them.
func CheckSocketDir(dir string) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s, the SMTP socket's directory, is not a directory", dir)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner", dir)
	}
	if int(sys.Uid) != os.Getuid() {
		return fmt.Errorf("%s, the SMTP socket's directory, belongs to uid %d, not to this user: it cannot keep others from the socket; give [smtp] socket a path in a directory of the user's own", dir, sys.Uid)
	}
	if sys.Mode&0o077 != 0 {
		return fmt.Errorf("%s, the SMTP socket's directory, is mode %04o: others could reach the socket; chmod 700 it, or give [smtp] socket a path in a directory of its own (one that does not exist is created mode 0700)", dir, sys.Mode&0o7777)
	}
	return nil
}

// maxSocketPath is the longest path a Unix socket may have on Linux:
// sun_path holds 108 bytes, the last for the NUL.
const maxSocketPath = 107

// checkSocketPath refuses a socket path longer than maxSocketPath with
// an error that says what to do: the kernel's own is "bind: invalid
// argument" (or "connect: invalid argument"), which does not. A deep
// home directory without a runtime directory makes one, as the socket
// is then in the state directory.
func checkSocketPath(path string) error {
	if len(path) > maxSocketPath {
		return fmt.Errorf("the socket path %s is %d bytes, longer than the %d bytes a Unix socket path may have: set [smtp] socket to a shorter path", path, len(path), maxSocketPath)
	}
	return nil
}

// listenUnix is ListenUnix; narrow: the directory is homepost's own,
// and one that is open to others is made mode 0700.
func listenUnix(path string, narrow bool) (net.Listener, error) {
	if err := checkSocketPath(path); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		// Only what is created here is made 0700 by it.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	err := CheckSocketDir(dir)
	if err != nil && narrow {
		if st, serr := os.Lstat(dir); serr == nil && st.IsDir() {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) == os.Getuid() {
				if cerr := os.Chmod(dir, 0o700); cerr != nil {
					return nil, fmt.Errorf("make %s mode 0700: %w", dir, cerr)
				}
				err = CheckSocketDir(dir)
			}
		}
	}
	if err != nil {
		return nil, err
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
