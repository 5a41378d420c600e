package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"homepost/test/testenv"
)

// A smarthost that takes at most 20 recipients per transaction and
// answers 452 4.5.3 to the 21st (RFC 5321 section 4.5.3.1.10): the
// recipients it refused for their number go in further transactions of
// the same delivery, none waits for a retry, and each gets the message
// once. A 452 that is about one recipient (its mailbox is full) still
// defers that recipient alone.
func TestRecipientLimitOfSmarthost(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	h.Limit(20)
	h.Set("full@remote.example", &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"})
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	var to []string
	for i := range 130 {
		to = append(to, fmt.Sprintf("r%03d@remote.example", i))
		if i == 5 {
			to = append(to, "full@remote.example")
		}
	}
	e.MustSend("To: "+strings.Join(to, ",\n ")+"\nSubject: many\n\nbody\n", "-t")
	e.Once()
	for _, r := range to {
		want := 1
		if r == "full@remote.example" {
			want = 0
		}
		if n := h.Count(r); n != want {
			t.Errorf("%s got %d copies, want %d", r, n, want)
		}
	}
	for _, n := range h.Transactions() {
		if n > 20 {
			t.Errorf("a transaction with %d recipients: %v", n, h.Transactions())
		}
	}
	q, _, _ := e.Run(nil, "mailq")
	if !strings.Contains(q, "full@remote.example") || !strings.Contains(q, "452 4.2.2 mailbox full") ||
		strings.Contains(q, "r0") || strings.Contains(q, "4.5.3") {
		t.Errorf("mailq:\n%s", q)
	}
	if c := h.Conns(); c != 1 {
		t.Errorf("%d connections, want 1", c)
	}
}
