package mailx

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"homepost/maildir"
)

// TestMboxRewriteUnderConcurrentDelivery runs mail (delete one message,
// quit) again and again while deliveries append to the same mbox: no
// message may be lost, duplicated or torn.
func TestMboxRewriteUnderConcurrentDelivery(t *testing.T) {
	h := newHome(t)
	h.setStore(t, "mbox:~/spool")
	box := h.path("spool")
	appendFixtures(t, box, 1, 20)
	const runs, perRun = 6, 15
	var wg sync.WaitGroup
	var appendErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 100; i < 100+runs*perRun; i++ {
			s, hd, b := testMessage(i)
			if err := maildir.Mbox(box).Append(s, time.Now(), []byte(hd), strings.NewReader(b)); err != nil {
				appendErr = err
				return
			}
		}
	}()
	deleted := 0
	for r := 0; r < runs; r++ {
		out, stderr, code := h.mail(t, "d 1\nq\n")
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s%s", r, code, stderr, out)
		}
		deleted++
	}
	wg.Wait()
	if appendErr != nil {
		t.Fatal(appendErr)
	}
	out := python(t, `
import mailbox, sys
subs = []
for m in mailbox.mbox(sys.argv[1]):
    body = m.get_payload()
    n = m['Subject'].split()[1]
    assert body == "Body of message %s.\nSecond line.\n>From here on, mboxrd quotes.\n" % n, repr(body)
    subs.append(m['Subject'])
assert len(subs) == len(set(subs)), "duplicates"
print(len(subs))
`, box)
	want := 20 + runs*perRun - deleted
	if strings.TrimSpace(out) != fmt.Sprint(want) {
		t.Errorf("%s messages in the mbox, want %d", strings.TrimSpace(out), want)
	}
}

// TestMboxRewriteNoFinalNewline: an mbox whose last line lacks its
// newline, with a message appended after it, still splits right after a
// rewrite.
func TestMboxRewriteNoFinalNewline(t *testing.T) {
	h := newHome(t)
	path := h.path("box")
	os.WriteFile(path, []byte("From a@b Sat Jan  2 08:50:00 2021\nSubject: one\n\nno newline at the end"), 0o600)
	box, err := openBox("mbox", path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	appendFixtures(t, path, 2, 2)
	box.Msgs[0].flags |= fRead
	s := &session{env: &env{set: newSettings(), out: bufio.NewWriter(io.Discard)}, box: box}
	if _, err := s.applyMbox(nil); err != nil {
		t.Fatal(err)
	}
	msgs, _, err := scanMbox(mustOpen(t, path))
	if err != nil || len(msgs) != 2 || msgs[0].subject() != "one" || msgs[1].subject() != "Subject 2" {
		t.Fatalf("after the rewrite: %v %d messages", err, len(msgs))
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestMboxRewrittenByAnotherReader: while mail has an mbox open, s-nail
// rewrites it in place (it deletes message 1, or only reads messages
// and adds their Status fields) and mail is delivered, so the file is
// no smaller than mail read it. mail's "d 2", "q" must not write with
// the old offsets (that deleted the wrong message and wrote torn
// ones): it says that the mailbox changed, reads it again, and deletes
// message 2 where it is now; what s-nail did stays done (message 1
// deleted, or read), and the message delivered is kept, once.
func TestMboxRewrittenByAnotherReader(t *testing.T) {
	snail, err := exec.LookPath("s-nail")
	if err != nil {
		t.Skip("SKIP: s-nail is not installed (apt-get install s-nail)")
	}
	for _, tc := range []struct{ name, snail string }{
		{"delete", "d 1\nq\n"},
		{"read", "p 1\np 3\np 5\nq\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHome(t)
			box := h.path("inbox")
			appendFixtures(t, box, 1, 5)
			cmd := exec.Command(binary(t), "mail", "-n", "-N", "-f", box)
			cmd.Env = h.env
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			out := bufio.NewReader(stdout)
			io.WriteString(stdin, "echo ready\n")
			for {
				l, err := out.ReadString('\n')
				if err != nil {
					t.Fatalf("mail: %q %v %s", l, err, stderr.String())
				}
				if l == "ready\n" {
					break
				}
			}
			sn := exec.Command(snail, "-n", "-N", "-f", box)
			sn.Env = append(h.env, "MAILRC=/dev/null")
			sn.Stdin = strings.NewReader(tc.snail)
			if o, err := sn.CombinedOutput(); err != nil {
				t.Fatalf("s-nail: %v\n%s", err, o)
			}
			if tc.name == "delete" {
				appendFixtures(t, box, 6, 6)
			}
			io.WriteString(stdin, "d 2\nq\n")
			stdin.Close()
			rest, _ := io.ReadAll(out)
			cmd.Wait()
			if !strings.Contains(stderr.String()+string(rest), "changed by another program") {
				t.Errorf("mail did not say the mailbox changed: %s%s", rest, stderr.String())
			}
			got := python(t, `
import mailbox, sys
print([(m['Subject'], m['Status']) for m in mailbox.mbox(sys.argv[1])])
`, box)
			want := "[('Subject 3', 'O'), ('Subject 4', 'O'), ('Subject 5', 'O'), ('Subject 6', 'O')]\n"
			if tc.name == "read" {
				want = "[('Subject 1', 'RO'), ('Subject 3', 'RO'), ('Subject 4', 'O'), ('Subject 5', 'RO')]\n"
			}
			if got != want {
				t.Errorf("mbox after s-nail's change and mail's d 2, q:\n%s want\n%s%s%s", got, want, rest, stderr.String())
			}
		})
	}
}
