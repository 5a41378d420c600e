package review

import (
	"strings"
	"testing"

	"homepost/test/testenv"
)

// An address literal naming a loopback address is this machine, as
// user@localhost is: mail to root@[127.0.0.1] is local mail, never
// handed to the smarthost. A literal naming another host stays remote.
func TestLoopbackLiteralIsLocal(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	login := testenv.Login(t)
	for _, a := range []string{login + "@[127.0.0.1]", login + "@[::1]", login + "@[IPv6:::1]", login + "@[127.0.0.2]"} {
		out, stderr, code := e.Run(nil, "homepost", "resolve", a)
		if code != 0 || strings.Contains(out, "remote") || !strings.Contains(out, "store") {
			t.Errorf("resolve %s: exit %d, want local delivery:\n%s%s", a, code, out, stderr)
		}
	}
	out, _, _ := e.Run(nil, "homepost", "resolve", login+"@[192.0.2.1]")
	if !strings.Contains(out, "remote "+login+"@[192.0.2.1]") {
		t.Errorf("resolve %s@[192.0.2.1]: want remote:\n%s", login, out)
	}
	// Delivered, not queued for the smarthost.
	e.MustSend("Subject: literal\n\nx\n", "-i", "root@[127.0.0.1]")
	e.Once()
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mail to root@[127.0.0.1] is queued:\n%s", q)
	}
	if got := testenv.Files(e.Path("Maildir", "new")); len(got) != 1 {
		t.Errorf("Maildir/new holds %d messages, want 1", len(got))
	}
}
