package review

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"homepost/test/testenv"
)

// mailq --json gives a deferred message its next_attempt and a held one
// none (nothing happens to it while it is held); and the text listing
// shows a smarthost's bidi controls as '?', as it shows control
// characters.
func TestMailqHeldAndBidi(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	h.Set("later@remote.example", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try \u202eretal\u202c later"})
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	e.MustSend("Subject: a\n\nx\n", "later@remote.example")
	e.Once()
	if j, _, _ := e.Run(nil, "mailq", "--json"); !strings.Contains(j, `"next_attempt"`) {
		t.Errorf("deferred message without next_attempt: %s", j)
	}
	if q, _, _ := e.Run(nil, "mailq"); strings.Contains(q, "\u202e") || !strings.Contains(q, "try ?retal? later") {
		t.Errorf("mailq passes bidi controls:\n%q", q)
	}
	if _, stderr, code := e.Run(nil, "homepost", "queue", "hold", "ALL"); code != 0 {
		t.Fatalf("hold: exit %d: %s", code, stderr)
	}
	if j, _, _ := e.Run(nil, "mailq", "--json"); strings.Contains(j, `"next_attempt"`) || !strings.Contains(j, `"queue_name":"hold"`) {
		t.Errorf("held message with next_attempt: %s", j)
	}
}
