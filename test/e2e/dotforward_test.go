package e2e

import (
	"os"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// argvScript writes a script that records its arguments, one per line
// in brackets, to out, and reads the message.
func argvScript(t *testing.T, e *testenv.Env, name, out string) string {
	t.Helper()
	p := e.Path(name)
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done > " + out + "\ncat > /dev/null\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// An unquoted command in ~/.forward reaches /bin/sh as written, inner
// quotes included, as procmail's and vacation's .forward lines are often
// written; the documented quoted forms keep working.
func TestForwardUnquotedCommandKeepsQuotes(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	argv := argvScript(t, e, "argv.sh", e.Path("argv.out"))
	argv2 := argvScript(t, e, "argv2.sh", e.Path("argv2.out"))
	argv3 := argvScript(t, e, "argv3.sh", e.Path("argv3.out"))
	forward := strings.Join([]string{
		"|" + argv + ` -a "two words" "a, b"`,
		`|/bin/sh -c "echo \$1 > $HOME/sh.out; cat >> $HOME/log" sh "one arg"`,
		`"|` + argv2 + ` quoted whole"`,
		`|"` + argv3 + ` quoted after"`,
		"",
	}, "\n")
	if err := os.WriteFile(e.Path(".forward"), []byte(forward), 0o600); err != nil {
		t.Fatal(err)
	}
	e.MustSend("Subject: argv\n\nbody\n", testenv.Login(t))
	e.Once()
	for _, c := range []struct{ file, want string }{
		{"argv.out", "[-a]\n[two words]\n[a, b]\n"},
		{"sh.out", "one arg\n"},
		{"argv2.out", "[quoted]\n[whole]\n"},
		{"argv3.out", "[quoted]\n[after]\n"},
	} {
		b, err := os.ReadFile(e.Path(c.file))
		if err != nil || string(b) != c.want {
			t.Errorf("%s = %q (%v), want %q", c.file, b, err, c.want)
		}
	}
	if b, _ := os.ReadFile(e.Path("log")); !strings.Contains(string(b), "Subject: argv") {
		t.Errorf("the sh -c command did not get the message: %q", b)
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
	if n := testenv.Files(e.Path("Maildir", "new")); len(n) != 0 {
		t.Errorf("store: %v, want nothing (no bounce, no kept copy)", n)
	}
}
