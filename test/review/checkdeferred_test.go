package review

import (
	"net"
	"os"
	"path/filepath"
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

// queueLine is check's queue line.
func queueLine(e *testenv.Env) (string, string) {
	out, _, _ := e.Run(nil, "homepost", "check")
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "queue:") {
			line = l
		}
	}
	return line, out
}

// A message on hold ("homepost queue hold") waits for "homepost queue
// release", not for a fault to be fixed: check counts it apart from the
// deferred recipients, says how to let it go, and never gives the
// reason of its last attempt (which may be long fixed) as the problem
// of today, as Postfix's mailq and qshape keep hold apart from deferred.
func TestCheckCountsHeldMailApart(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	e := testenv.New(t, "[relay]\nurl = \"smtp://"+closed+"\"\n")
	notmd := e.Path("notmd")
	if err := os.MkdirAll(notmd, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte("notmd: "+notmd+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.MustSend("Subject: local\n\nb\n", "notmd")
	e.Once()
	msgs := mailqJSON(t, e)
	if len(msgs) != 1 || len(msgs[0].Recipients) != 1 || !strings.Contains(msgs[0].Recipients[0].DelayReason, "not a Maildir") {
		t.Fatalf("the local message is not deferred for its directory: %+v", msgs)
	}
	id := msgs[0].QueueID
	if _, stderr, code := e.Run(nil, "homepost", "queue", "hold", id); code != 0 {
		t.Fatalf("queue hold: exit %d: %s", code, stderr)
	}
	// The cause is fixed; only the hold keeps the message.
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(notmd, d), 0o700)
	}
	line, out := queueLine(e)
	if !strings.HasPrefix(line, "ok") || strings.Contains(line, "deferred") || strings.Contains(line, "Maildir") ||
		!strings.Contains(line, "1 held: `homepost queue release "+id+"` sends it") {
		t.Errorf("check's queue line with one held message %q, want it counted as held with how to release it, and no old reason\n%s", line, out)
	}

	// A deferred message beside it: one recipient deferred, with its
	// own reason, and the held one apart.
	e.MustSend("Subject: far\n\nb\n", "someone@example.org")
	e.Once()
	line, out = queueLine(e)
	if !strings.HasPrefix(line, "warn") || !strings.Contains(line, "2 message(s) waiting, 1 recipient(s) deferred") ||
		!strings.Contains(line, "refused") || strings.Contains(line, "Maildir") ||
		!strings.Contains(line, "1 held: `homepost queue release "+id+"` sends it") {
		t.Errorf("check's queue line with one deferred and one held message %q\n%s", line, out)
	}

	// Two held: release ALL lets them go.
	if _, stderr, code := e.Run(nil, "homepost", "queue", "hold", "ALL"); code != 0 {
		t.Fatalf("queue hold: exit %d: %s", code, stderr)
	}
	line, out = queueLine(e)
	if !strings.HasPrefix(line, "ok") || strings.Contains(line, "deferred") || strings.Contains(line, "refused") ||
		!strings.Contains(line, "2 held: `homepost queue release ALL` sends them") {
		t.Errorf("check's queue line with two held messages %q\n%s", line, out)
	}
}
