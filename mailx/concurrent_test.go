package mailx

import (
	"bufio"
	"fmt"
	"io"
	"os"
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
	if _, err := s.applyMbox(); err != nil {
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
