package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// A ~/.forward whose lines read well but whose every message bounces (a
// command whose program is not found, by its path or in the PATH
// commands run with; a path written without its leading / or ~/, which
// is read as a local name) is a warning in homepost check, one per line
// with its file:line and what becomes of its mail, and homepost resolve
// warns of each missing program with its line; a shell built-in is not
// named. Delivery is what it was: the message bounces, and the bounce
// reaches the store.
func TestForwardLinesThatBounce(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	me := testenv.Login(t)
	fwd := e.Path(".forward")
	if err := os.WriteFile(fwd, []byte("|/usr/local/bin/nosuchprog-hp -x\n|nosuchprog-hp --flag\nfwd/\n|exit 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := []string{
		fwd + `:1: command "/usr/local/bin/nosuchprog-hp -x": /usr/local/bin/nosuchprog-hp not found; every message to it bounces`,
		fwd + `:2: command "nosuchprog-hp --flag": nosuchprog-hp not found in /usr/local/bin:/usr/bin:/bin (the PATH commands run with); every message to it bounces`,
	}
	out, _, code := e.Run(nil, "homepost", "resolve", me)
	if code != 67 {
		t.Errorf("resolve: exit %d, want 67 (fwd/ bounces)", code)
	}
	for _, l := range lines {
		if !strings.Contains(out, "warning: "+l+"\n") {
			t.Errorf("resolve lacks %q:\n%s", l, out)
		}
	}
	if strings.Count(out, "warning:") != 2 || !strings.Contains(out, "bounce: 5.1.1 fwd/: user unknown") {
		t.Errorf("resolve:\n%s", out)
	}

	out, _, _ = e.Run(nil, "homepost", "check")
	want := []string{
		"warn forward: " + lines[0],
		"warn forward: " + lines[1],
		"warn forward: " + fwd + ":3: fwd/ is neither a login here nor an alias: every message to it bounces (5.1.1 user unknown); a file or a Maildir is written with a leading / or ~/",
	}
	var got []string
	for _, l := range strings.Split(forwardLines(out), "\n") {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("check on forward:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	e.MustSend("Subject: b7\n\nbody\n", me)
	e.Once()
	e.Once()
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
	var all string
	for _, n := range testenv.Files(e.Path("Maildir", "new")) {
		b, _ := os.ReadFile(filepath.Join(e.Path("Maildir", "new"), n))
		all += string(b)
	}
	for _, w := range []string{"nosuchprog-hp -x", "nosuchprog-hp --flag", "fwd/: user unknown", "Subject: b7"} {
		if !strings.Contains(all, w) {
			t.Errorf("the bounce in the store lacks %q:\n%s", w, all)
		}
	}
}
