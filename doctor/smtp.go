package doctor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"homepost/agent"
	"homepost/config"
	"homepost/smtpd"
)

// checkSMTP reports the agent's SMTP listener: whether it is on, where,
// whether each address answers a NOOP session, and where the secret is
// that clients of other users log in with.
func checkSMTP(c *checker, cfg *config.Config) {
	if !cfg.SMTP.Enabled {
		c.ok("smtp", "off ([smtp] enabled = false)")
		return
	}
	if err := smtpd.CheckSocketDir(filepath.Dir(cfg.SMTP.Socket)); err != nil {
		c.fail("smtp", "%v", err)
	}
	if _, why := config.RuntimeDir(); why != "" && cfg.SMTP.Socket == filepath.Join(cfg.StateDir, "smtp") {
		// The agent decides alike (settings.RuntimeDir): a program
		// set to the runtime directory's socket does not find it.
		if ListenerNamed(cfg) {
			c.warn("smtp", "no runtime directory (%s): the socket is %s, in the state directory", why, cfg.SMTP.Socket)
		} else {
			c.ok("smtp", "no runtime directory (%s): the socket is %s, in the state directory", why, cfg.SMTP.Socket)
		}
	}
	probes := smtpd.ProbeAll(cfg, 5*time.Second)
	// Asked after the probes: under socket activation the first
	// connection starts the agent.
	pid, running := agent.Running(cfg)
	named := ListenerNamed(cfg)
	for _, p := range probes {
		where := p.Network + ":" + p.Addr
		var h holding
		if p.Network == "tcp" && p.Owner == cfg.UID {
			h = whoListens(p.Addr, pid, running)
		}
		priv := ""
		if p.Network == "tcp" {
			priv = privilegedPort(cfg, p.Addr)
		}
		switch {
		case priv != "" && p.Owner != cfg.UID:
			// Whoever holds it, the agent never can.
			c.fail("smtp", "%s: %s", where, priv)
		case p.Network == "tcp" && p.Owner >= 0 && p.Owner != cfg.UID:
			// Whether or not it answers.
			c.fail("smtp", "%s holds %s: mail sent there does not reach homepost", userProgram(p.Owner), p.Addr)
		case p.Network == "tcp" && p.Err == nil && p.Owner < 0:
			c.warn("smtp", "%s answers (EHLO, NOOP), but whose it is cannot be told: %v", where, p.OwnerErr)
		case h.err != nil:
			c.warn("smtp", "%s: a program of yours listens on it, but whether it is the agent cannot be told: %v", where, h.err)
		case h.foreign != 0 && len(h.pids) > 0 && isUserSystemd(h.pids[0]) && !running:
			c.warn("smtp", "%s: systemd (pid %d) listens on it for a socket unit, but no agent runs to take its connections: %s (systemctl --user status homepost)", where, h.pids[0], probeState(p))
		case h.foreign != 0:
			c.fail("smtp", "%s is held by %s, not the agent: mail sent there does not reach homepost; %s", where, h.holder(), ownPortAdvice(pid, running))
		case p.Err == nil:
			c.ok("smtp", "%s answers (EHLO, NOOP): %s", where, strings.Join(p.Extensions, " "))
		case p.Network == "unix" && !named && !(running && !isBackground(pid)):
			// Only the default socket, which nothing is known to use:
			// no reason to warn whoever never set up [smtp].
			state := "no agent runs"
			if running {
				state = fmt.Sprintf("the agent that runs (pid %d) is a background delivery, which never listens", pid)
			}
			c.ok("smtp", "%s: not listening now (%s); [smtp] names no listener for your programs (%s)", where, state, listenHint(cfg, "127.0.0.1"))
		case running && isBackground(pid):
			c.warn("smtp", "%s: not listening: the agent that runs (pid %d) is a background delivery, which never listens (%s)", where, pid, smtpAdvice())
		case running && p.Network == "unix" && elsewhere(cfg, pid, p.Addr) != "":
			c.warn("smtp", "%s: not listening: %s", where, elsewhere(cfg, pid, p.Addr))
		case running && agentStopping(cfg, pid):
			c.warn("smtp", "%s does not answer: the agent (pid %d) is stopping", where, pid)
		case running:
			c.warn("smtp", "%s does not answer although the agent runs: %v (see its log; the agent opens its sockets when it starts and when it reads its configuration again: kill -HUP %d)", where, p.Err, pid)
		default:
			c.warn("smtp", "%s: not listening: the agent does not run (%s)", where, smtpAdvice())
		}
	}
	if len(cfg.SMTP.Listen) == 0 {
		return
	}
	switch _, err := smtpd.ReadSecret(cfg.SMTP.SecretFile); {
	case err == nil:
		c.ok("smtp-auth", "clients of other users log in with AUTH PLAIN or LOGIN as %s and the secret in %s", cfg.User, cfg.SMTP.SecretFile)
	case errors.Is(err, os.ErrNotExist) && running && !isBackground(pid) && answersTCP(cfg, probes):
		// Removed since the agent began to listen: it makes a new
		// one when it reads its configuration again.
		c.warn("smtp-auth", "%s is missing: clients of other users cannot log in while the agent listens on TCP; kill -HUP %d makes a new one", cfg.SMTP.SecretFile, pid)
	case errors.Is(err, os.ErrNotExist):
		c.ok("smtp-auth", "clients of other users log in with AUTH PLAIN or LOGIN as %s and the secret that the agent creates in %s when it first listens on TCP", cfg.User, cfg.SMTP.SecretFile)
	default:
		c.fail("smtp-auth", "%v: clients of other users cannot log in", err)
	}
}

// answersTCP reports whether a TCP address of the listener answered,
// on a socket of the user's.
func answersTCP(cfg *config.Config, probes []smtpd.Probe) bool {
	for _, p := range probes {
		if p.Network == "tcp" && p.Err == nil && p.Owner == cfg.UID {
			return true
		}
	}
	return false
}

// holding is whose the listening sockets on a configured address are.
type holding struct {
	foreign uint64 // a listening socket that is not the agent's (its inode), 0 if none
	pids    []int  // the processes that hold it, where found
	err     error  // why it cannot be told
}

// whoListens tells whether the sockets that listen on addr (a loopback
// "IP:PORT" or "localhost:PORT", as [smtp] listen has it) are held by
// the agent, process pid (running: an agent holds the lock).
func whoListens(addr string, pid int, running bool) holding {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return holding{err: err}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return holding{err: fmt.Errorf("bad port in %s", addr)}
	}
	ips := []net.IP{net.ParseIP(host)}
	if host == "localhost" { // as the agent opens it
		ips = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	var inodes []uint64
	for _, ip := range ips {
		in, err := listenerInodes(ip, port)
		if err != nil {
			return holding{err: err}
		}
		inodes = append(inodes, in...)
	}
	if len(inodes) == 0 {
		return holding{err: fmt.Errorf("no listening socket on %s in the kernel's tables", addr)}
	}
	var mine map[uint64]bool
	if running {
		if mine, err = socketInodes(pid); err != nil {
			return holding{err: fmt.Errorf("the agent's open files (pid %d): %w", pid, err)}
		}
	}
	for _, in := range inodes {
		if !mine[in] {
			return holding{foreign: in, pids: socketHolders(in)}
		}
	}
	return holding{}
}

// holder names the program that holds the foreign socket.
func (h holding) holder() string {
	if len(h.pids) == 0 {
		return fmt.Sprintf("another program of yours (its socket, inode %d, is in none of your processes' open files)", h.foreign)
	}
	s := fmt.Sprintf("another program of yours (pid %d", h.pids[0])
	if cmd := commandLine(h.pids[0]); cmd != "" {
		s += ": " + cmd
	}
	if n := len(h.pids) - 1; n > 0 {
		s += fmt.Sprintf(", and %d more process(es)", n)
	}
	return s + ")"
}

// ownPortAdvice says what to do about a port that a program of the
// user's own holds, for the agent as it is (pid, running).
func ownPortAdvice(pid int, running bool) string {
	const free = "stop that program, or set another port in [smtp] listen"
	switch {
	case running && isBackground(pid):
		return fmt.Sprintf("the agent that runs (pid %d) is a background delivery, which never listens; %s", pid, free)
	case running:
		return fmt.Sprintf("the agent (pid %d) could not open it (its log says so); %s, then tell it to read its configuration again (kill -HUP %d), which opens the port", pid, free, pid)
	}
	return "the agent does not run, and could not open it when it starts; " + free
}

// probeState is what a probe found, in a few words.
func probeState(p smtpd.Probe) string {
	if p.Err != nil {
		return p.Err.Error()
	}
	return "it answered (EHLO, NOOP)"
}

// smtpAdvice is how to have the listener on this machine.
func smtpAdvice() string {
	if booted() {
		return "it listens while it runs; systemctl --user enable --now homepost-smtp.socket starts it at the first connection"
	}
	return "it listens while it runs: start homepost agent; for it to listen after a reboot too, add the line that homepost check --crontab prints to your crontab"
}

// portStartFile holds the lowest port that a process without
// CAP_NET_BIND_SERVICE may bind; a variable for tests.
var portStartFile = "/proc/sys/net/ipv4/ip_unprivileged_port_start"

// privilegedPort says why the agent, running as cfg's user, can never
// listen on addr (a [smtp] listen address): its port is below
// net.ipv4.ip_unprivileged_port_start (1024 unless changed; and 1024
// where the kernel has no such setting). "" when it can, or for root.
func privilegedPort(cfg *config.Config, addr string) string {
	if cfg.UID == 0 {
		return ""
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return ""
	}
	start := 1024
	if b, err := os.ReadFile(portStartFile); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			start = n
		}
	}
	if port >= start {
		return ""
	}
	why := fmt.Sprintf("port %d is below %d (net.ipv4.ip_unprivileged_port_start, in %s): only root may listen there, and the agent runs as %s, so it never can", port, start, portStartFile, cfg.User)
	free, passed := freeListen(cfg, host)
	if free == "" {
		return why + ": use a port from 1024 up that nothing listens on and give your programs that port (" + passed + ")"
	}
	_, freePort, _ := net.SplitHostPort(free)
	why += fmt.Sprintf(": use port %s (listen = [%q]) and give your programs that port", freePort, free)
	if passed != "" {
		why += " (" + passed + ")"
	}
	return why
}

// listenPorts are the ports that check proposes for [smtp] listen, in
// this order: the first that nothing listens on is named.
var listenPorts = []int{2525, 2526, 2527, 10025}

// listenHint proposes a listen address on host for a listener that
// [smtp] does not name: one that nothing holds (freeListen).
func listenHint(cfg *config.Config, host string) string {
	free, passed := freeListen(cfg, host)
	if free == "" {
		return fmt.Sprintf("listen = [\"%s:PORT\"] makes one, which a running agent opens, with a port that nothing listens on: %s", host, passed)
	}
	hint := fmt.Sprintf("listen = [%q] makes one, which a running agent opens", free)
	if passed != "" {
		hint += "; " + passed
	}
	return hint
}

// freeListen returns the first address host:PORT, of listenPorts, that
// no socket listens on (the kernel's tables name every user's, those
// bound to the wildcard address included), and says which it passed
// over and who holds them, as far as can be told. It returns "" and
// says that each is taken when none is free.
func freeListen(cfg *config.Config, host string) (string, string) {
	ip := net.ParseIP(host)
	if host == "localhost" { // as the agent opens it, and IPv4 first
		ip = net.IPv4(127, 0, 0, 1)
	}
	var taken []string
	for _, port := range listenPorts {
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		ls, err := smtpd.ListenersFrom([]string{procRoot + "/net/tcp", procRoot + "/net/tcp6"}, &net.TCPAddr{IP: ip, Port: port})
		if err != nil {
			continue // cannot be told: not proposed
		}
		if len(ls) == 0 {
			if len(taken) == 0 {
				return addr, ""
			}
			return addr, strings.Join(taken, "; ")
		}
		taken = append(taken, addr+" is taken, by "+listenerHolder(cfg, ls[0]))
	}
	if len(taken) == 0 {
		return "", "which ports are free cannot be told"
	}
	return "", strings.Join(taken, "; ")
}

// listenerHolder names the program that holds a listening socket, as
// far as can be told: its pid and command line, or the user it runs as.
func listenerHolder(cfg *config.Config, l smtpd.Listener) string {
	if pids := socketHolders(l.Inode); len(pids) > 0 {
		s := fmt.Sprintf("pid %d", pids[0])
		if cmd := commandLine(pids[0]); cmd != "" {
			s += ": " + cmd
		}
		return s
	}
	if l.UID != cfg.UID {
		return userProgram(l.UID)
	}
	return "a program of yours"
}

// userProgram names a program of another user by the user's name, as
// well as the uid, when the password database has it: "a program of
// user bob (uid 1002)", "a program of uid 1002" otherwise.
func userProgram(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("a program of user %s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("a program of uid %d", uid)
}

// elsewhere says where the running agent (pid) listens on a Unix socket
// when that is not path, where this check (and programs run with its
// environment) look, and why: the default socket is in the runtime
// directory that the environment names, and the agent's environment may
// have named another, or none (cron, su, sudo). "" when it listens on
// path, or on no Unix socket that can be found.
func elsewhere(cfg *config.Config, pid int, path string) string {
	socks, err := socketInodes(pid)
	if err != nil {
		return ""
	}
	var at []string
	for _, l := range unixListeners() {
		if socks[l.inode] && l.path != path {
			at = append(at, l.path)
		}
	}
	if len(at) == 0 {
		return ""
	}
	why := "its environment differs from this check's"
	env := processEnv(pid)
	ours := os.Getenv("XDG_RUNTIME_DIR")
	switch theirs, set := env["XDG_RUNTIME_DIR"]; {
	case env == nil:
	case !set || theirs == "":
		why = fmt.Sprintf("it started without XDG_RUNTIME_DIR (from cron, su or sudo), when /run/user/%d was no runtime directory of yours (logind makes it at login)", cfg.UID)
		if ours != "" {
			why += ", while this check has XDG_RUNTIME_DIR=" + ours
		}
	case theirs != ours:
		why = "it started with XDG_RUNTIME_DIR=" + theirs
		if ours == "" {
			why += ", while this check has none"
		} else {
			why += ", while this check has XDG_RUNTIME_DIR=" + ours
		}
	}
	return fmt.Sprintf("the agent (pid %d) listens on unix:%s instead: %s; programs set to %s do not reach it: set socket = %q in [smtp] so that the agent and every program agree wherever they start, or restart the agent from your login session", pid, strings.Join(at, ", unix:"), why, path, at[0])
}

// isBackground reports whether process pid is a background delivery
// (homepost agent --background), which delivers but never listens.
func isBackground(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	return slices.Contains(args, "agent") && slices.Contains(args, "--background")
}
