package doctor

import (
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"

	"homepost/config"
)

// freePorts returns n loopback ports that nothing listens on now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// The listen address that check proposes where [smtp] names none is
// one that nothing holds: the first free port of a short list, with a
// word on the ports passed over and who holds them; where another
// program holds 127.0.0.1:2525 (a test Postfix, another MTA), the hint
// "listen = [\"127.0.0.1:2525\"]" gave an agent that could never open it.
func TestListenHintSkipsTakenPort(t *testing.T) {
	systemdAt(t, false)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port
	free := freePorts(t, 1)[0]
	old := listenPorts
	listenPorts = []int{heldPort, free}
	t.Cleanup(func() { listenPorts = old })

	home := t.TempDir()
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	cfg := config.Defaults(config.NewIdentity("alice", home, "Alice", os.Getuid()))
	var b strings.Builder
	checkSMTP(&checker{w: &b}, cfg)
	out := b.String()
	want := "listen = [\"127.0.0.1:" + strconv.Itoa(free) + "\"] makes one"
	taken := "127.0.0.1:" + strconv.Itoa(heldPort) + " is taken, by pid " + strconv.Itoa(os.Getpid())
	if !strings.Contains(out, want) || !strings.Contains(out, taken) {
		t.Errorf("check with port %d held and %d free: want %q and %q in:\n%s", heldPort, free, want, taken, out)
	}

	// Every port of the list taken: no address is proposed as free.
	listenPorts = []int{heldPort}
	b.Reset()
	checkSMTP(&checker{w: &b}, cfg)
	if out := b.String(); strings.Contains(out, "listen = [\"127.0.0.1:"+strconv.Itoa(heldPort)+"\"] makes one") || !strings.Contains(out, "a port that nothing listens on") {
		t.Errorf("check with every proposed port held:\n%s", out)
	}

	// A port below 1024: the advice names the free port too.
	f := t.TempDir() + "/ip_unprivileged_port_start"
	os.WriteFile(f, []byte("1024\n"), 0o644)
	oldStart := portStartFile
	portStartFile = f
	t.Cleanup(func() { portStartFile = oldStart })
	listenPorts = []int{heldPort, free}
	cfg = config.Defaults(config.NewIdentity("alice", home, "Alice", 1001))
	cfg.SMTP.Listen = []string{"127.0.0.1:587"}
	b.Reset()
	checkSMTP(&checker{w: &b}, cfg)
	if out := b.String(); !strings.Contains(out, "use port "+strconv.Itoa(free)+" (listen = [\"127.0.0.1:"+strconv.Itoa(free)+"\"])") {
		t.Errorf("port 587 as uid 1001, port %d free:\n%s", free, out)
	}
}

// Another user's program is named by the user, where the password
// database has one, whatever the uid: not root alone.
func TestUserProgram(t *testing.T) {
	if got := userProgram(0); got != "a program of user root (uid 0)" {
		t.Errorf("uid 0: %q", got)
	}
	if u, err := user.LookupId("65534"); err == nil {
		if got, want := userProgram(65534), "a program of user "+u.Username+" (uid 65534)"; got != want {
			t.Errorf("uid 65534: %q, want %q", got, want)
		}
	}
	if _, err := user.LookupId("3999999"); err != nil {
		if got := userProgram(3999999); got != "a program of uid 3999999" {
			t.Errorf("a uid without a user: %q", got)
		}
	}
}
