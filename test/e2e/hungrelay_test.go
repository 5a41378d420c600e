package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"

	"homepost/test/testenv"
)

// Local mail never waits for the smarthost: with a relay that accepts
// connections and never greets, a message for the Maildir that comes
// after a remote one is stored at once, and so is one whose relay
// password takes its time; the remote one is deferred when the
// timeout passes.
func TestLocalMailDoesNotWaitForHungRelay(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // say nothing
		}
	}()
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ncommand_timeout = \"8s\"\n", l.Addr()))
	e.StartAgent()
	e.MustSend("Subject: far\n\nb\n", "x@remote.example")
	time.Sleep(300 * time.Millisecond) // the relay is being waited for
	start := time.Now()
	e.MustSend("Subject: near\n\nb\n", "root")
	e.WaitFor(func() bool { return len(testenv.Files(e.Path("Maildir", "new"))) == 1 }, "the local copy")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the local copy took %v behind a hung smarthost", d.Round(time.Millisecond))
	}
}
