package review

import (
	"os"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// sendmail takes the full name of a generated From from the NAME
// environment variable, as Postfix's sendmail and mailx do; -F wins
// over it, and a NAME that is empty falls back to the account's name.
// A NAME with a line break cannot add a header field.
func TestSendmailNameEnvironment(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	login := testenv.Login(t)
	send := func(name string, args ...string) string {
		t.Helper()
		c := e.Cmd([]byte("Subject: name\n\nx\n"), "sendmail", append([]string{"-i"}, args...)...)
		c.Env = append(c.Env, "NAME="+name)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("sendmail: %v: %s", err, out)
		}
		e.Once()
		files := testenv.Files(e.Path("Maildir", "new"))
		if len(files) != 1 {
			t.Fatalf("Maildir/new holds %d messages, want 1", len(files))
		}
		p := e.Path("Maildir", "new", files[0])
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(p)
		return string(b)
	}
	if m := send("Env Name", login); !strings.Contains(m, "From: \"Env Name\" <") {
		t.Errorf("NAME=\"Env Name\": want it in From:\n%s", m)
	}
	if m := send("Env Name", "-F", "Flag Name", login); !strings.Contains(m, "From: \"Flag Name\" <") {
		t.Errorf("-F with NAME: want -F's name in From:\n%s", m)
	}
	if m := send("Evil\nBcc: x@example.org", login); strings.Contains(m, "\nBcc:") {
		t.Errorf("NAME with a line break added a field:\n%s", m)
	}
}
