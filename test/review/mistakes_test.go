package review

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// The everyday mistakes users make must not cost mail, nor hide it.

// storeFiles reads every message in ~/Maildir/new.
func storeFiles(t *testing.T, e *testenv.Env) []string {
	t.Helper()
	var out []string
	for _, n := range testenv.Files(e.Path("Maildir", "new")) {
		b, err := os.ReadFile(e.Path("Maildir", "new", n))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// A local name that is neither a login nor an alias (a typo in MAILTO)
// bounces with 5.1.1 "user unknown": a DSN in the store, not the message
// filed as if it were the user's; resolve says "no such user".
func TestUnknownLocalNameBounces(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	const name = "nosuchuser-homepost-typo"
	e.MustSend("Subject: typo\n\nbody\n", name)
	e.Once()
	got := storeFiles(t, e)
	if len(got) != 1 || !strings.Contains(got[0], "multipart/report") || !strings.Contains(got[0], "5.1.1") ||
		!strings.Contains(got[0], "user unknown") {
		t.Fatalf("store holds %d message(s), want one DSN with 5.1.1 user unknown:\n%s", len(got), strings.Join(got, "\n----\n"))
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
	out, _, code := e.Run(nil, "homepost", "resolve", name)
	if code != 67 || !strings.Contains(out, "no such user") || strings.Contains(out, "another user") {
		t.Errorf("resolve %s: exit %d\n%s", name, code, out)
	}
	// A real login that is not the user's own still follows other_users.
	if out, _, code := e.Run(nil, "homepost", "resolve", "daemon"); code != 0 || !strings.Contains(out, "another user") {
		t.Errorf("resolve daemon: exit %d\n%s", code, out)
	}
}

// A |command that is a shell built-in or keyword runs as Postfix's
// local(8) runs it, through /bin/sh: "|exit 75" defers the mail (it is
// not "exit not found", bounced), and "test -d ~/x && cat >>~/x/log"
// writes the log.
func TestCommandBuiltins(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	os.Mkdir(e.Path("x"), 0o700)
	os.WriteFile(e.Path(".config", "homepost", "aliases"),
		[]byte("later: \"|exit 75\"\nlog: \"|test -d ~/x && cat >>~/x/log\"\n"), 0o600)
	e.MustSend("Subject: later\n\nb\n", "later")
	e.MustSend("Subject: logged\n\nb\n", "log")
	e.Once()
	if got := storeFiles(t, e); len(got) != 0 {
		t.Errorf("the store holds %d message(s) (a bounce?):\n%s", len(got), strings.Join(got, "\n----\n"))
	}
	q, _, _ := e.Run(nil, "mailq")
	if !strings.Contains(q, "temporary failure") || !strings.Contains(q, "later") || strings.Contains(q, "log\n") {
		t.Errorf("mailq:\n%s", q)
	}
	if b, err := os.ReadFile(filepath.Join(e.Path("x"), "log")); err != nil || !strings.Contains(string(b), "Subject: logged") {
		t.Errorf("~/x/log: %v %q", err, b)
	}
}
