package smtpd_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// asUser prepares a command run as uid:gid, without supplementary
// groups, from /.
func asUser(uid, gid int, args ...string) *exec.Cmd {
	c := exec.Command("setpriv", append([]string{"--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), "--clear-groups", "--"}, args...)...)
	c.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
	c.Dir = "/"
	return c
}

// A second local user that pipelines a whole transaction and closes the
// socket at once (8 threads of 20) gets nothing queued: the closed
// client's socket, orphaned, is listed with uid 0 and used to be taken
// for root's when the agent's user is root. The log does not name uid
// 0 as the peer either.
func TestClosedForeignClientNotTrusted(t *testing.T) {
	uid, gid := otherUser(t)
	l := start(t)
	script := `
import socket, sys, threading
host, port = sys.argv[1].rsplit(':', 1)
def run():
    for i in range(20):
        try:
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root>\r\nDATA\r\nSubject: s\r\n\r\nno auth\r\n.\r\nQUIT\r\n")
            s.close()
        except OSError as e:
            print('error', e)
ts = [threading.Thread(target=run) for _ in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print('done')
`
	out, err := asUser(uid, gid, "/usr/bin/python3", "-c", script, l.Addr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "done") {
		t.Fatalf("python as uid %d: %v\n%s", uid, err, out)
	}
	time.Sleep(2 * time.Second)
	n := 0
	for _, sub := range []string{"new", "cur"} {
		n += len(testenv.Files(l.Outbox(sub)))
	}
	n += len(testenv.Files(l.Path("Maildir", "new")))
	if n != 0 {
		t.Errorf("%d of 160 messages of another user's clients that closed at once were queued", n)
	}
	log := l.agent.Stderr.(*testenv.LockedBuffer).String()
	if strings.Contains(log, "peer_uid=0 ") || strings.Contains(log, "peer_uid=0\n") {
		t.Errorf("the log names uid 0 as the peer of another user's client:\n%s", log)
	}
}
