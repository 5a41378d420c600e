package mailx

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// mutt (save_empty unset) and s-nail remove an mbox they emptied. A
// mail session open on it then finds its messages gone, and neither a
// command, inc nor quit makes the file again: an empty mbox where the
// user's other reader removed it, which the next delivery to a store
// elsewhere would never remove.
func TestRemovedMboxNotRecreated(t *testing.T) {
	for _, tc := range []struct{ name, cmds string }{
		{"inc then quit", "inc\nd 1\nq\n"},
		{"print then quit", "p 2\nq\n"},
		{"quit", "d 1\nq\n"},
		{"folder", "d 1\nfolder %s\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHome(t)
			box := h.path("box")
			var b strings.Builder
			for i := 1; i <= 2; i++ {
				_, hd, body := testMessage(i)
				b.WriteString("From user@example.org Sat Jan  2 08:00:00 2021\n" + hd + body + "\n")
			}
			os.WriteFile(box, []byte(b.String()), 0o600)
			other := h.path("other")
			os.WriteFile(other, []byte("From a@b Sat Jan  2 08:00:00 2021\nSubject: x\n\nx\n\n"), 0o600)
			cmd := exec.Command(binary(t), "mail", "-n", "-f", box)
			cmd.Env, cmd.Dir = h.env, h.dir
			in, _ := cmd.StdinPipe()
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			in.Write([]byte("h\n"))
			time.Sleep(500 * time.Millisecond)
			// The other reader empties it and removes it.
			os.Remove(box)
			in.Write([]byte(strings.ReplaceAll(tc.cmds, "%s", other)))
			in.Close()
			cmd.Wait()
			t.Logf("mail said:\n%s%s", out.String(), errb.String())
			if st, err := os.Stat(box); err == nil {
				t.Errorf("the mbox another reader removed is there again (%d bytes)", st.Size())
			}
		})
	}
}
