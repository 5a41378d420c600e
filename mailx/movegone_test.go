package mailx

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Quit copies the messages bound for ~/mbox one by one and stops
// at the first it cannot read. One that another reader deleted from
// the Maildir meanwhile stops the whole quit: the messages copied
// before it stay in the Maildir too, and the next quit copies them to
// ~/mbox a second time.
func TestMoveStopsAtMessageGone(t *testing.T) {
	h := newHome(t)
	md := h.path("Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	for i := 1; i <= 3; i++ {
		_, hd, b := testMessage(i)
		os.WriteFile(filepath.Join(md, "new", fmt.Sprintf("170000000%d.M1P1.host", i)), []byte(hd+b), 0o600)
	}
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
	in.Write([]byte("unset hold\np 1\np 2\np 3\n"))
	time.Sleep(time.Second)
	// Another reader deletes message 2.
	os.Remove(filepath.Join(md, "new", "1700000002.M1P1.host"))
	in.Write([]byte("q\n"))
	in.Close()
	cmd.Wait()
	t.Logf("first quit: %s", errb.String())
	o, e, _ := h.mail(t, "unset hold\np 1\nq\n")
	t.Logf("second session: %s%s", o[max(0, len(o)-80):], e)
	mb, _ := os.ReadFile(h.path("mbox"))
	if n := strings.Count(string(mb), "Subject: Subject 1\n"); n != 1 {
		t.Errorf("~/mbox holds message 1 %d times, want once", n)
	}
	if n := strings.Count(string(mb), "Subject: Subject 3\n"); n != 1 {
		t.Errorf("~/mbox holds message 3 %d times after the first quit and the second, want once", n)
	}
}
