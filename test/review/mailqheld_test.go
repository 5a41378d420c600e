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

// A message held by homepost queue hold is listed held, with how to
// release it, rather than under the reason of its last attempt: it
// waits for no retry (homepost check counts it apart too).
func TestMailqHeldShowsHoldNotOldReason(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	h.Set("later@remote.example", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy, try later"})
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	e.MustSend("Subject: a\n\nx\n", "later@remote.example")
	e.Once()
	id := queueIDs(t, e)[0]
	if q, _, _ := e.Run(nil, "mailq"); !strings.Contains(q, "mailbox busy, try later") {
		t.Fatalf("deferred message without its reason:\n%s", q)
	}
	if _, stderr, code := e.Run(nil, "homepost", "queue", "hold", id); code != 0 {
		t.Fatalf("hold: exit %d: %s", code, stderr)
	}
	want := "(held by homepost queue hold until homepost queue release " + id + ")"
	q, _, _ := e.Run(nil, "mailq")
	if strings.Contains(q, "mailbox busy") || !strings.Contains(q, id+"!") || !strings.Contains(q, want+"\n") {
		t.Errorf("held message: want %q, and not the old reason:\n%s", want, q)
	}
	j, _, _ := e.Run(nil, "mailq", "--json")
	if strings.Contains(j, "mailbox busy") || !strings.Contains(j, `"delay_reason":"`+strings.Trim(want, "()")+`"`) {
		t.Errorf("held message in --json: %s", j)
	}
	// Released, it waits for its retry under its reason again.
	if _, stderr, code := e.Run(nil, "homepost", "queue", "release", id); code != 0 {
		t.Fatalf("release: exit %d: %s", code, stderr)
	}
	if q, _, _ := e.Run(nil, "mailq"); !strings.Contains(q, "mailbox busy, try later") || strings.Contains(q, "queue hold") {
		t.Errorf("released message:\n%s", q)
	}
}
