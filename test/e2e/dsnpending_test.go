package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"homepost/test/testenv"
)

// A recipient the smarthost refused with 550, whose DSN cannot be
// stored (the store cannot be made): mailq lists the message as
// deferred, with the refusal and why the bounce waits, not as being
// delivered; retries do not ask the smarthost again; once the store
// can be written the DSN is stored once and the queue is empty.
func TestBounceWaitsForItsStore(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("store = \"~/blocked/Mail/\"\n[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	h.Set("r-bad@test.invalid", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	// A file where the store's parent should be: not even root can
	// make the store.
	if err := os.WriteFile(e.Path("blocked"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	from := testenv.Login(t) + "@testhost.example"
	e.MustSend("Subject: dsn-mixed\n\nx\n", "-f", from, "r-ok@test.invalid", "r-bad@test.invalid")
	e.Once()
	q, _, _ := e.Run(nil, "mailq")
	first := strings.SplitN(q, "\n", 3)
	if len(first) < 2 || strings.Contains(first[1], "*") || !strings.Contains(unwrapped(q), "(bounced: host ") ||
		!strings.Contains(unwrapped(q), "no such user") || !strings.Contains(unwrapped(q), "; the bounce cannot be stored: ") ||
		!strings.Contains(q, "r-bad@test.invalid") || strings.Contains(q, "r-ok@") {
		t.Errorf("mailq:\n%s", q)
	}
	if js, _, _ := e.Run(nil, "mailq", "--json"); !strings.Contains(js, `"queue_name":"deferred"`) {
		t.Errorf("mailq --json:\n%s", js)
	}
	for range 2 {
		if _, stderr, code := e.Run(nil, "homepost", "flush"); code != 0 {
			t.Fatalf("flush: %d %s", code, stderr)
		}
	}
	if n, m := h.Asked("r-bad@test.invalid"), h.Asked("r-ok@test.invalid"); n != 1 || m != 1 {
		t.Errorf("the smarthost had r-bad %d times, r-ok %d times, want once each", n, m)
	}
	if err := os.Remove(e.Path("blocked")); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := e.Run(nil, "homepost", "flush"); code != 0 {
		t.Fatalf("flush: %d %s", code, stderr)
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq once the store can be written:\n%s", q)
	}
	e.Once()
	ds := testenv.Files(e.Path("blocked", "Mail", "new"))
	if len(ds) != 1 {
		t.Fatalf("store holds %v, want one DSN", ds)
	}
	b, _ := os.ReadFile(e.Path("blocked", "Mail", "new", ds[0]))
	if !strings.Contains(string(b), "r-bad@test.invalid") || !strings.Contains(string(b), "no such user") || strings.Contains(string(b), "cannot be stored") {
		t.Errorf("DSN:\n%s", b)
	}
	if n := h.Asked("r-bad@test.invalid"); n != 1 {
		t.Errorf("the smarthost had r-bad %d times", n)
	}
}
