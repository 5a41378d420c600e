package doctor

// Whose is the socket that listens on a configured address? Its uid
// alone does not tell: any program the user runs (a test server, nc -l,
// another homepost agent) has the user's uid, and the agent that runs
// then cannot open the address, or, when none runs, will not be able to.
// The kernel's tables (/proc/net/tcp, /proc/net/tcp6) name the listening
// socket's inode, and each process's /proc/PID/fd links to the sockets
// it holds as "socket:[INODE]": the listener is the agent's when the
// agent's process (the lock names its pid) holds that inode. Which
// program holds it otherwise is found among the processes whose fd
// directory can be read: the user's own (every one, for root).

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
)

// procRoot is where the proc file system is; a variable for tests.
var procRoot = "/proc"

// tcpListenState is TCP_LISTEN in include/net/tcp_states.h.
const tcpListenState = 0x0A

// listenerInodes returns the inodes of the listening sockets that take
// connections to ip:port: those bound to ip itself, else those bound to
// the wildcard address (0.0.0.0, ::) on port. Several sockets share an
// address only with SO_REUSEPORT, and then share its connections.
func listenerInodes(ip net.IP, port int) ([]uint64, error) {
	var exact, wild []uint64
	for _, t := range []string{procRoot + "/net/tcp", procRoot + "/net/tcp6"} {
		f, err := os.Open(t)
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for n := 0; sc.Scan(); n++ {
			// sl local_address rem_address st ... uid timeout inode
			fl := strings.Fields(sc.Text())
			if n == 0 || len(fl) < 10 {
				continue
			}
			if st, err := strconv.ParseUint(fl[3], 16, 8); err != nil || st != tcpListenState {
				continue
			}
			lip, lport, err := parseProcAddr(fl[1])
			if err != nil || lport != port {
				continue
			}
			inode, err := strconv.ParseUint(fl[9], 10, 64)
			if err != nil || inode == 0 {
				continue
			}
			switch {
			case lip.Equal(ip):
				exact = append(exact, inode)
			case lip.IsUnspecified():
				wild = append(wild, inode)
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

// parseProcAddr parses an address of /proc/net/tcp ("0100007F:1F90") or
// of /proc/net/tcp6 (32 hex digits): 32-bit words in the machine's byte
// order, then the port in hex.
func parseProcAddr(s string) (net.IP, int, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return nil, 0, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return nil, 0, fmt.Errorf("bad address %q", s)
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("bad port in %q", s)
	}
	return ip, int(port), nil
}

// socketInodes returns the inodes of the sockets that process pid holds.
func socketInodes(pid int) (map[uint64]bool, error) {
	dir := procRoot + "/" + strconv.Itoa(pid) + "/fd"
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[uint64]bool{}
	for _, n := range names {
		l, err := os.Readlink(dir + "/" + n.Name())
		if err != nil {
			continue // closed meanwhile
		}
		if s, ok := strings.CutPrefix(l, "socket:["); ok {
			if i, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				out[i] = true
			}
		}
	}
	return out, nil
}

// socketHolders returns, in order, the pids of the processes that hold
// the socket inode, among those whose open files can be read.
func socketHolders(inode uint64) []int {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if socks, err := socketInodes(pid); err == nil && socks[inode] {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// commandLine is process pid's command line, its arguments joined by
// spaces and cut to a line's length; "" when it cannot be read.
func commandLine(pid int) string {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	// White space within an argument (a script given with -c) would
	// break check's one line per item.
	s := strings.Join(strings.Fields(strings.ReplaceAll(string(b), "\x00", " ")), " ")
	if r := []rune(s); len(r) > 120 {
		s = string(r[:117]) + "..."
	}
	return s
}

// isUserSystemd reports whether process pid is a systemd user instance
// (systemd --user), which holds the sockets of socket units.
func isUserSystemd(pid int) bool {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	return len(args) > 0 && strings.HasSuffix(args[0], "systemd") && slices.Contains(args, "--user")
}
