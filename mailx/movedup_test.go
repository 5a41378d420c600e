package mailx

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Quit moves the read messages of an mbox system mailbox to ~/mbox
// first, then rewrites the mailbox; when another reader (here s-nail,
// which rewrites in place when its Status changes) rewrote the mailbox
// during the session, the rewrite is refused ("changes not saved") but
// the copies in ~/mbox stay: the message is in both, and the next
// session that reads it moves it again, a second copy in ~/mbox.
func TestMoveToMboxDuplicatedWhenMailboxChanged(t *testing.T) {
	snail, err := exec.LookPath("s-nail")
	if err != nil {
		t.Skip("s-nail not installed")
	}
	h := newHome(t)
	h.setStore(t, "mbox:~/spool")
	box := h.path("spool")
	appendFixtures(t, box, 1, 3)

	cmd := exec.Command(binary(t), "mail", "-n")
	cmd.Env = h.env
	cmd.Dir = h.dir
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.Write([]byte("unset hold\np 1\n"))
	time.Sleep(time.Second)
	// Another reader reads message 3 and quits: it rewrites the
	// mailbox in place with a Status field.
	sn := exec.Command(snail, "-#", "-n", "-f", box)
	sn.Env = append(h.env, "MAILRC=/dev/null")
	sn.Stdin = strings.NewReader("p 3\nq\n")
	if o, err := sn.CombinedOutput(); err != nil {
		t.Fatalf("s-nail: %v: %s", err, o)
	}
	in.Write([]byte("q\n"))
	in.Close()
	cmd.Wait()
	t.Logf("first mail session: %s%s", out.String(), errb.String())

	// The next session reads message 1 again and quits.
	o, e, _ := h.mail(t, "unset hold\np 1\nq\n")
	t.Logf("second mail session: %s%s", o, e)
	mb, _ := os.ReadFile(h.path("mbox"))
	if n := strings.Count(string(mb), "Subject: Subject 1\n"); n != 1 {
		t.Errorf("~/mbox holds message 1 %d times, want once:\n%s", n, mb)
	}
}
