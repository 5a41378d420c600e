package review

import (
	"bufio"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// XDG_RUNTIME_DIR set but missing, and not to be made (after a reboot,
// in a su or sudo -i session, under cron with a copied environment), is
// no runtime directory: the agent listens on the state directory's
// socket, says which in its log, and check looks for it there too.
func TestMissingRuntimeDirSocket(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	os.WriteFile(e.Path("file"), nil, 0o600)
	rt := e.Path("file", "run") // cannot be created, even by root
	e.Vars = append(e.Vars, "XDG_RUNTIME_DIR="+rt)
	sock := e.Path(".local", "state", "homepost", "smtp")
	if len(sock) > 107 {
		t.Skip("the temporary directory's path is too long for a Unix socket")
	}
	var log testenv.LockedBuffer
	c := e.Cmd(nil, "homepost", "agent")
	c.Stderr = &log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	e.WaitFor(func() bool { return strings.Contains(log.String(), "agent started") }, "agent start")
	if !strings.Contains(log.String(), "unix:"+sock) {
		t.Errorf("the agent's log does not name the socket %s:\n%s", sock, log.String())
	}
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatalf("no socket in the state directory: %v\n%s", err, log.String())
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	greeting, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if !strings.HasPrefix(greeting, "220") {
		t.Errorf("greeting %q", greeting)
	}
	out, _, _ := e.Run(nil, "homepost", "check")
	if !strings.Contains(out, "ok   smtp: unix:"+sock+" answers") && !strings.Contains(out, "ok   smtp: "+sock+" answers") {
		t.Errorf("check does not find the socket %s:\n%s", sock, out)
	}
	if !strings.Contains(out, "XDG_RUNTIME_DIR="+rt+" does not exist") {
		t.Errorf("check does not say why the socket is in the state directory:\n%s", out)
	}
}
