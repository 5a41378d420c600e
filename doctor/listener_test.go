package doctor_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// listenEnv is a HOME whose [smtp] listens on a free loopback port, with
// a runtime directory of its own for the Unix socket.
func listenEnv(t *testing.T, extra string) (*testenv.Env, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := testenv.New(t, extra+"[smtp]\nlisten = [\""+addr+"\"]\n")
	rt, err := os.MkdirTemp("", "hp-rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rt) })
	e.Vars = append(e.Vars, "XDG_RUNTIME_DIR="+rt, "PATH=/usr/bin:/bin")
	return e, addr
}

// fakeSMTP starts, as the user, a program of the user's own that holds
// addr and answers like any SMTP server (220, then 250 to everything),
// as a `python3 -m smtpd`-like tool would. It returns the process.
func fakeSMTP(t *testing.T, addr string) *exec.Cmd {
	t.Helper()
	script := filepath.Join(t.TempDir(), "fake-smtpd-marker.py")
	if err := os.WriteFile(script, []byte(`
import socket, sys, threading
host, port = sys.argv[1].rsplit(':', 1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, int(port))); s.listen(8)
print('listening', flush=True)
def serve(c):
    f = c.makefile('rb')
    c.sendall(b'220 fake ESMTP\r\n')
    for line in f:
        if line.upper().startswith(b'QUIT'):
            c.sendall(b'221 bye\r\n'); break
        c.sendall(b'250 ok\r\n')
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := exec.Command("/usr/bin/python3", script, addr)
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Skipf("python3: %v", err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "listening\n" {
		t.Fatalf("the fake listener did not start: %q", l)
	}
	return c
}

// smtpLine is check's line for a TCP address.
func smtpLine(out, addr string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "smtp: ") && strings.Contains(l, addr) {
			return l
		}
	}
	return ""
}

// A program of the user's own that holds the configured port has the
// user's uid, as the agent's listener has: check must tell the two apart
// by the socket itself, whether no agent runs or the agent runs without
// the port (its bind failed), and name the program.
func TestCheckPortHeldByOwnProgram(t *testing.T) {
	for _, agentRuns := range []bool{false, true} {
		t.Run(fmt.Sprintf("agent=%v", agentRuns), func(t *testing.T) {
			e, addr := listenEnv(t, "")
			fake := fakeSMTP(t, addr)
			if agentRuns {
				e.StartAgent()
			}
			out, _, code := e.Run(nil, "homepost", "check")
			l := smtpLine(out, addr)
			if strings.HasPrefix(l, "ok") {
				t.Errorf("check passes a port held by another program of the user's: exit %d:\n%s", code, out)
			}
			if !strings.HasPrefix(l, "FAIL smtp: ") || !strings.Contains(l, "pid "+strconv.Itoa(fake.Process.Pid)) ||
				!strings.Contains(l, "fake-smtpd-marker") || !strings.Contains(l, "not the agent") {
				t.Errorf("check's line for %s does not name the program that holds it:\n%s", addr, out)
			}
		})
	}
}

// The agent's own listener is ok, as before.
func TestCheckPortHeldByAgent(t *testing.T) {
	e, addr := listenEnv(t, "")
	e.StartAgent()
	e.WaitFor(func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "the listener")
	out, _, code := e.Run(nil, "homepost", "check")
	if l := smtpLine(out, addr); !strings.HasPrefix(l, "ok   smtp: tcp:"+addr+" answers") {
		t.Errorf("the agent's own listener: exit %d:\n%s", code, out)
	}
}
