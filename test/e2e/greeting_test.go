package e2e

import (
	"fmt"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// A smarthost that greets with "554 5.7.1 go away" refuses service for
// now: the mail is deferred (Postfix's smtp_skip_5xx_greeting), mailq
// shows the server's reply, and no DSN comes back.
func TestGreeting5xxDefers(t *testing.T) {
	t.Parallel()
	addr := testenv.ServeLines(t, "554 5.7.1 go away", func(cmd string) (string, bool) {
		if strings.HasPrefix(strings.ToUpper(cmd), "QUIT") {
			return "221 2.0.0 bye", true
		}
		return "503 5.5.1 no service", false
	})
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", addr))
	e.MustSend("Subject: s\n\nb\n", "a@remote.example", "b@remote.example")
	e.Once()
	q, _, _ := e.Run(nil, "mailq")
	if !strings.Contains(q, "a@remote.example") || !strings.Contains(q, "b@remote.example") ||
		!strings.Contains(q, "554 5.7.1 go away") {
		t.Errorf("mailq:\n%s", q)
	}
	js, _, _ := e.Run(nil, "mailq", "--json")
	if !strings.Contains(js, `"queue_name":"deferred"`) {
		t.Errorf("mailq --json:\n%s", js)
	}
	if n := testenv.Files(e.Path("Maildir", "new")); len(n) != 0 {
		t.Errorf("a DSN came back: %v", n)
	}
}
