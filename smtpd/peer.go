package smtpd

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// PeerUID returns the uid that owns the client's end of a TCP connection
// on this machine. Linux lists every socket of the network namespace, its
// addresses and its owner's uid, in /proc/net/tcp and /proc/net/tcp6: the
// client's socket is the one whose local address is our peer and whose
// remote address is us. The 4-tuple of an established connection is
// unique, so the answer cannot be another connection's.
//
// The rule: a client is the user's only when its socket is found, held
// by a process (an inode other than 0), and listed under the user's uid.
// A socket that its process has closed is orphaned: the kernel lists it
// with uid 0 and inode 0 (and one in FIN_WAIT2 as a time-wait entry,
// the same), whoever owned it. Its owner cannot be known any more, so
// it is an error here and the client counts as another user's, never as
// root's. A client that sends a whole transaction and closes before the
// server has looked is thus refused; the lookup is made as the
// connection is accepted, before anything is read, and no client that
// waits for its replies is orphaned then. An entry that is not found
// is looked for once more (the kernel's table is read in pieces, and a
// socket can be missed while others come and go), then counted as
// foreign as well.
func PeerUID(c net.Conn) (int, error) {
	local, ok1 := c.LocalAddr().(*net.TCPAddr)
	peer, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return -1, errors.New("not a TCP connection")
	}
	tables := []string{"/proc/net/tcp", "/proc/net/tcp6"}
	uid, err := peerUIDFrom(tables, local, peer)
	if errors.Is(err, errNoSocket) {
		uid, err = peerUIDFrom(tables, local, peer)
	}
	return uid, err
}

// errNoSocket: the client's socket is not in the kernel's tables.
var errNoSocket = errors.New("not in the kernel's tables")

// errOrphaned: the client's socket is held by no process.
var errOrphaned = errors.New("closed by its process (orphaned, inode 0): its owner is unknown")

func peerUIDFrom(tables []string, local, peer *net.TCPAddr) (int, error) {
	for _, t := range tables {
		f, err := os.Open(t)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // no IPv6
			}
			return -1, err
		}
		uid, found, err := findSocket(bufio.NewScanner(f), peer, local)
		f.Close()
		if err != nil {
			return -1, fmt.Errorf("%s: %w", t, err)
		}
		if found {
			return uid, nil
		}
	}
	return -1, fmt.Errorf("socket %s → %s: %w", peer, local, errNoSocket)
}

// tcpTimeWait and tcpListen are socket states (include/net/tcp_states.h)
// whose entries do not name the client's owner.
const (
	tcpTimeWait = 0x06
	tcpListen   = 0x0A
)

// findSocket scans a /proc/net/tcp table for the socket from src to dst
// and returns its uid. A line reads
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
//	0: 0100007F:9C40 0100007F:09C5 01 00000000:00000000 00:00000000 00000000 1000 0 81234 ...
//
// with each address as hex 32-bit words in the machine's byte order and
// the port in hex. An entry with inode 0 is found with errOrphaned: no
// process holds it, and its uid column is 0 whoever owned it.
func findSocket(sc *bufio.Scanner, src, dst *net.TCPAddr) (uid int, found bool, err error) {
	for n := 0; sc.Scan(); n++ {
		if n == 0 {
			continue // the column titles
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		st, err := strconv.ParseUint(f[3], 16, 8)
		if err != nil || st == tcpTimeWait || st == tcpListen {
			continue
		}
		la, lerr := parseProcAddr(f[1])
		ra, rerr := parseProcAddr(f[2])
		if lerr != nil || rerr != nil {
			continue
		}
		if la.Port == src.Port && ra.Port == dst.Port && la.IP.Equal(src.IP) && ra.IP.Equal(dst.IP) {
			if f[9] == "0" {
				return -1, false, errOrphaned
			}
			u, err := strconv.Atoi(f[7])
			if err != nil || u < 0 {
				return -1, false, fmt.Errorf("bad uid %q", f[7])
			}
			if _, err := strconv.ParseUint(f[9], 10, 64); err != nil {
				return -1, false, fmt.Errorf("bad inode %q", f[9])
			}
			return u, true, nil
		}
	}
	return -1, false, sc.Err()
}

// parseProcAddr parses "0100007F:1F90" (IPv4) or 32 hex digits and a
// port (IPv6).
func parseProcAddr(s string) (*net.TCPAddr, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok || (len(h) != 8 && len(h) != 32) {
		return nil, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return nil, err
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return nil, err
	}
	return &net.TCPAddr{IP: ip, Port: int(port)}, nil
}

// unixPeerUID returns the uid of the process at the other end of a Unix
// socket (SO_PEERCRED).
func unixPeerUID(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if cerr != nil {
		return -1, cerr
	}
	return int(cred.Uid), nil
}

// ListenerUID returns the uid of the listening socket that takes
// connections to addr: the LISTEN entry on its address, or on the
// wildcard address (0.0.0.0, ::) of its port when there is none. It
// tells whether what answers on a configured address is this user's
// agent or another program.
func ListenerUID(addr *net.TCPAddr) (int, error) {
	return listenerUIDFrom(procTables, addr)
}

func listenerUIDFrom(tables []string, addr *net.TCPAddr) (int, error) {
	ls, err := ListenersFrom(tables, addr)
	if err != nil {
		return -1, err
	}
	if len(ls) == 0 {
		return -1, fmt.Errorf("no listening socket on %s in the kernel's tables", addr)
	}
	return ls[0].UID, nil
}

// procTables are the kernel's tables of TCP sockets, IPv4 and IPv6.
var procTables = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// Listener is a listening TCP socket as the kernel lists it: its
// address, its owner's uid, and its inode, which /proc/PID/fd of each
// process that holds it links to as "socket:[INODE]".
type Listener struct {
	IP    net.IP
	Port  int
	UID   int
	Inode uint64
}

// Listeners returns the listening sockets that take connections to
// addr: those bound to its address itself, else those bound to the
// wildcard address (0.0.0.0, ::) of its port; none when nothing
// listens there. Several sockets share an address only with
// SO_REUSEPORT, and then share its connections. ListenerUID and
// homepost check (which process holds the socket) read them.
func Listeners(addr *net.TCPAddr) ([]Listener, error) {
	return ListenersFrom(procTables, addr)
}

// ListenersFrom is Listeners from the given tables (files in the format
// of /proc/net/tcp); a table that does not exist (no IPv6) is skipped.
// It is not the per-connection lookup (PeerUID), which stops at its
// socket's line.
func ListenersFrom(tables []string, addr *net.TCPAddr) ([]Listener, error) {
	var exact, wild []Listener
	for _, t := range tables {
		f, err := os.Open(t)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for n := 0; sc.Scan(); n++ {
			// sl local_address rem_address st ... uid timeout inode
			fl := strings.Fields(sc.Text())
			if n == 0 || len(fl) < 10 {
				continue
			}
			if st, err := strconv.ParseUint(fl[3], 16, 8); err != nil || st != tcpListen {
				continue
			}
			la, err := parseProcAddr(fl[1])
			if err != nil || la.Port != addr.Port {
				continue
			}
			u, err := strconv.Atoi(fl[7])
			if err != nil || u < 0 {
				continue
			}
			inode, err := strconv.ParseUint(fl[9], 10, 64)
			if err != nil || inode == 0 {
				continue
			}
			l := Listener{IP: la.IP, Port: la.Port, UID: u, Inode: inode}
			switch {
			case la.IP.Equal(addr.IP):
				exact = append(exact, l)
			case la.IP.IsUnspecified():
				wild = append(wild, l)
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
	}
	if len(exact) > 0 {
		return exact, nil
	}
	return wild, nil
}
