package review

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
)

// agent --once with a broken config.toml while an agent that read the
// file before it broke delivers: it asks that agent and waits, as flush
// does, with the warning the other commands give.
func TestOnceWaitsForAgentWithBrokenConfig(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	file := setConfig(t, e, baseConfig, 0o600)
	log := startAgentLog(t, e)
	setConfig(t, e, baseConfig+"stroe = 1\n", 0o600)
	e.WaitFor(func() bool { return strings.Contains(log.String(), "keeping the configuration read before") }, "the failed reload")
	e.MustSend("Subject: once with a broken file\n\nb\n", testenv.Login(t))
	_, stderr, code := e.Run(nil, "homepost", "agent", "--once")
	if code != 0 {
		t.Fatalf("agent --once: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, file+":4: stroe") || !strings.Contains(stderr, "configuration it read before") {
		t.Errorf("agent --once does not warn:\n%s", stderr)
	}
	if n := len(storeFiles(t, e)); n != 1 {
		t.Errorf("%d message(s) delivered when agent --once returned", n)
	}
}

// Each address of [smtp] listen that cannot be opened is a log line of
// its own, not two reasons joined by a newline in one field.
func TestListenerErrorsOneLineEach(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	var addrs []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		addrs = append(addrs, strconv.Quote(l.Addr().String()))
	}
	setConfig(t, e, baseConfig+"[smtp]\nlisten = ["+strings.Join(addrs, ", ")+"]\n", 0o600)
	log := startAgentLog(t, e)
	time.Sleep(200 * time.Millisecond)
	var lines []string
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, `msg="smtp listener"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d smtp listener lines, want one for each address:\n%s", len(lines), log.String())
	}
	for i, l := range lines {
		if strings.Contains(l, `\n`) || !strings.Contains(l, strings.Trim(addrs[i], `"`)) {
			t.Errorf("line %d: %s", i, l)
		}
	}
}

// A port another program holds is logged once, not again at each
// reload that a changed aliases file or .forward makes: those leave
// [smtp] as it was. A reload asked for (SIGHUP) tries again, and opens
// the port once it is free.
func TestListenerErrorNotRepeatedAtFileReload(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	aliases := e.Path(".config", "homepost", "aliases")
	if err := os.WriteFile(aliases, []byte("postmaster: root\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	setConfig(t, e, baseConfig+"[smtp]\nlisten = [\""+addr+"\"]\n", 0o600)
	log := startAgentLog(t, e)
	failures := func() int { return strings.Count(log.String(), `msg="smtp listener"`) }
	if n := failures(); n != 1 {
		t.Fatalf("%d smtp listener errors at the start, want 1:\n%s", n, log.String())
	}
	for i := range 3 {
		if err := os.WriteFile(aliases, []byte(fmt.Sprintf("postmaster: root\nabuse%d: root\n", i)), 0o600); err != nil {
			t.Fatal(err)
		}
		e.WaitFor(func() bool { return strings.Count(log.String(), "msg=reloaded") == i+1 }, "the reload for the aliases file")
	}
	if n := failures(); n != 1 {
		t.Errorf("%d smtp listener errors after 3 reloads for the aliases file, want the one of the start:\n%s", n, log.String())
	}
	pid := e.LockHolder()
	if pid == 0 {
		t.Fatal("no agent holds the lock")
	}
	syscall.Kill(pid, syscall.SIGHUP)
	e.WaitFor(func() bool { return failures() == 2 }, "the error again at SIGHUP, the port still taken")
	busy.Close()
	syscall.Kill(pid, syscall.SIGHUP)
	e.WaitFor(func() bool {
		return strings.Contains(log.String(), "smtp listener follows the configuration") && strings.Contains(log.String(), "opened=tcp:"+addr)
	}, "the freed port opened at SIGHUP")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
