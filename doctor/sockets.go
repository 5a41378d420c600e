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
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"homepost/smtpd"
)

// procRoot is where the proc file system is; a variable for tests.
var procRoot = "/proc"

// listenerInodes returns the inodes of the listening sockets that take
// connections to ip:port, from the kernel's tables under procRoot, as
// smtpd reads them for the agent (smtpd.Listeners): those bound to ip
// itself, else those bound to the wildcard address (0.0.0.0, ::).
func listenerInodes(ip net.IP, port int) ([]uint64, error) {
	ls, err := smtpd.ListenersFrom([]string{procRoot + "/net/tcp", procRoot + "/net/tcp6"}, &net.TCPAddr{IP: ip, Port: port})
	if err != nil {
		return nil, err
	}
	inodes := make([]uint64, len(ls))
	for i, l := range ls {
		inodes[i] = l.Inode
	}
	return inodes, nil
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

// unixListener is a listening Unix socket: its inode and path.
type unixListener struct {
	inode uint64
	path  string
}

// unixListeners lists the listening Unix sockets bound to a path, from
// the kernel's table (procRoot/net/unix: the flag __SO_ACCEPTCON,
// 00010000, marks a listening socket).
func unixListeners() []unixListener {
	b, err := os.ReadFile(procRoot + "/net/unix")
	if err != nil {
		return nil
	}
	var out []unixListener
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 8 || f[3] != "00010000" || !strings.HasPrefix(f[7], "/") {
			continue
		}
		if in, err := strconv.ParseUint(f[6], 10, 64); err == nil {
			out = append(out, unixListener{in, strings.Join(f[7:], " ")})
		}
	}
	return out
}

// processEnv is process pid's environment as it started, the first of
// each name (as getenv takes it); nil when it cannot be read.
func processEnv(pid int) map[string]string {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/environ")
	if err != nil || len(b) == 0 {
		return nil
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if _, seen := env[k]; !seen {
				env[k] = v
			}
		}
	}
	return env
}
