package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// A background delivery stays while a copy is deferred, also when the
// same pass delivered another copy of the message: with ~/.forward
// keeping a copy (\user) and naming an mbox that takes nothing for now,
// it exited at once, status 0, and the deferred copy waited until some
// other command ran.
func TestBackgroundStaysForDeferredMboxBesideDelivered(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	e.DeliverWithoutAgent()
	// An mbox under a file, which cannot be made for now: deferred
	// (as one that is not writable is, for a user other than root).
	if err := os.WriteFile(e.Path("afile"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	box := e.Path("afile", "box.mbox")
	if err := os.WriteFile(e.Path(".forward"), []byte("\\"+testenv.Login(t)+"\n"+box+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.MustSend("Subject: partial\n\nx\n", testenv.Login(t))
	holder := e.LockHolder
	e.WaitFor(func() bool {
		n, _ := filepath.Glob(e.Path("Maildir", "new", "*"))
		return len(n) == 1
	}, "the copy kept by \\user")
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(q, box)
	}, "the deferral")
	time.Sleep(2 * time.Second)
	if holder() == 0 {
		log, _ := os.ReadFile(e.Path(".local", "state", "homepost", "agent.log"))
		t.Fatalf("no background delivery stays for the deferred copy; log:\n%s", log)
	}
	// The mbox mended: a flush delivers the copy and the delivery ends.
	os.Remove(e.Path("afile"))
	os.Mkdir(e.Path("afile"), 0o700)
	e.Run(nil, "homepost", "flush")
	e.WaitFor(func() bool {
		b, _ := os.ReadFile(box)
		return strings.Contains(string(b), "Subject: partial")
	}, "the deferred copy after the fix")
	e.WaitFor(func() bool { return holder() == 0 }, "the background delivery to exit on an empty queue")
}
