package mailx

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Mail reads a message's text from the mbox by the offset it
// scanned. s-nail and mutt rewrite an mbox in place (same inode): after
// s-nail deleted message 1, mail's "p 2" prints message 3 and "p 3"
// prints nothing, and a save, pipe or reply of message 2 takes message
// 3's text. The session should notice that the file is not the one it
// read and say so instead.
func TestInPlaceRewriteShowsOtherMessage(t *testing.T) {
	snail, err := exec.LookPath("s-nail")
	if err != nil {
		t.Skip("s-nail not installed")
	}
	h := newHome(t)
	box := h.path("box")
	appendFixtures(t, box, 1, 3)
	cmd := exec.Command(binary(t), "mail", "-n", "-f", box)
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
	in.Write([]byte("h\n"))
	time.Sleep(time.Second)
	sn := exec.Command(snail, "-#", "-n", "-f", box)
	sn.Env = append(h.env, "MAILRC=/dev/null")
	sn.Stdin = strings.NewReader("d 1\nq\n")
	if o, err := sn.CombinedOutput(); err != nil {
		t.Fatalf("s-nail: %v: %s", err, o)
	}
	in.Write([]byte("p 2\nq\n"))
	in.Close()
	cmd.Wait()
	_, shown, _ := strings.Cut(out.String(), "Message 2:")
	if strings.Contains(shown, "Subject: Subject 3") || !strings.Contains(shown+errb.String(), "Subject 2") && !strings.Contains(errb.String(), "changed") {
		t.Errorf("p 2 after another reader rewrote the mbox in place shows:\n%s\nstderr: %s", shown, errb.String())
	}
}
