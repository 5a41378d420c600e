package doctor

import (
	"errors"
	"fmt"
	"net"
	"os"
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
			c.fail("smtp", "another program (uid %d) holds %s: mail sent there does not reach homepost", p.Owner, p.Addr)
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
			c.ok("smtp", "%s: not listening now (%s); [smtp] names no listener for your programs (listen = [\"127.0.0.1:2525\"] makes one, which a running agent opens)", where, state)
		case running && isBackground(pid):
			c.warn("smtp", "%s: not listening: the agent that runs (pid %d) is a background delivery, which never listens (%s)", where, pid, smtpAdvice())
		case running && p.Network == "unix" && elsewhere(cfg, pid, p.Addr) != "":
			c.warn("smtp", "%s: not listening: %s", where, elsewhere(cfg, pid, p.Addr))
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
	case errors.Is(err, os.ErrNotExist):
		c.ok("smtp-auth", "clients of other users log in with AUTH PLAIN or LOGIN as %s and the secret that the agent creates in %s when it first listens on TCP", cfg.User, cfg.SMTP.SecretFile)
	default:
		c.fail("smtp-auth", "%v: clients of other users cannot log in", err)
	}
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
	return fmt.Sprintf("port %d is below %d (net.ipv4.ip_unprivileged_port_start, in %s): only root may listen there, and the agent runs as %s, so it never can: use 2525 (listen = [%q]) and give your programs that port", port, start, portStartFile, cfg.User, net.JoinHostPort(host, "2525"))
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
