package review

import (
	"net"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// With the smarthost refusing connections and remote mail deferred for
// it, homepost check warns of the queue with the reason (mailq's), where
// it said "ok queue" and exited 0 as if nothing waited for a fault.
func TestCheckWarnsOfDeferredMail(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	e := testenv.New(t, "[relay]\nurl = \"smtp://"+closed+"\"\n")
	e.MustSend("Subject: far\n\nb\n", "someone@example.org")
	e.Once()
	out, _, _ := e.Run(nil, "homepost", "check")
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "queue:") {
			line = l
		}
	}
	if !strings.HasPrefix(line, "warn") || !strings.Contains(line, "1 recipient(s) deferred") || !strings.Contains(line, "refused") {
		t.Errorf("check's queue line %q, want a warning with the deferral's reason\n%s", line, out)
	}
}
