package e2e

import (
	"fmt"
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

// An aliases file and a ~/.forward as other editors and mail systems
// leave them (a byte order mark, CRLF, :INCLUDE: in capitals, a quoted
// local part, an entry whose colon is missing) read as a user of
// sendmail or Postfix expects, through the real binary: homepost
// resolve shows each target, newaliases names the broken line, and the
// agent delivers what the files say.
func TestAliasesFileShapes(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	os.WriteFile(e.Path("team"), []byte("carol@remote.example\r\n"), 0o600)
	aliases := "\ufeffteam: :INCLUDE:" + e.Path("team") + "\r\n" +
		"odd: \"a,b\"@remote.example,\r\n" +
		"  \"john doe\"@remote.example\r\n" +
		"nightly ops@remote.example\r\n" +
		"bang: !old@remote.example, dan@remote.example\r\n"
	os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte(aliases), 0o600)

	out, _, code := e.Run(nil, "homepost", "resolve", "team", "odd", "nightly")
	for _, want := range []string{"carol@remote.example", `"a,b"@remote.example`, `"john doe"@remote.example`, "aliases:4: the entry for nightly cannot be read: missing ':'"} {
		if !strings.Contains(out, want) {
			t.Errorf("resolve lacks %q:\n%s", want, out)
		}
	}
	if code != 67 {
		t.Errorf("resolve: exit %d, want 67 (nightly bounces)", code)
	}
	_, stderr, code := e.Run(nil, "newaliases")
	if code != 78 || !strings.Contains(stderr, "aliases:4: missing ':'") {
		t.Errorf("newaliases: exit %d:\n%s", code, stderr)
	}

	e.MustSend("Subject: shapes\n\nx\n", "-f", testenv.Login(t)+"@testhost.example", "team", "odd", "nightly", "bang")
	e.Once()
	for _, rcpt := range []string{"carol@remote.example", "a,b@remote.example", "john doe@remote.example", "!old@remote.example", "dan@remote.example"} {
		if h.Count(rcpt) != 1 {
			t.Errorf("smarthost got %d for %s: %v", h.Count(rcpt), rcpt, h.All())
		}
	}
	// nightly bounces: the DSN in the store names the line.
	inbox := testenv.Files(e.Path("Maildir", "new"))
	if len(inbox) != 1 {
		t.Fatalf("store: %v, want the DSN for nightly", inbox)
	}
	b, _ := os.ReadFile(e.Path("Maildir", "new", inbox[0]))
	if !strings.Contains(string(b), "5.1.3") || !strings.Contains(string(b), "aliases:4") {
		t.Errorf("DSN does not name aliases:4 with 5.1.3:\n%s", b)
	}
}

// An empty ~/.forward, or one with only blank and comment lines, means
// no forwarding (the store), as with Postfix; a CRLF one with a comment
// after an address, \me and an unquoted command with quotes does what
// it says.
func TestForwardFileShapes(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	me := testenv.Login(t)
	for i, forward := range []string{"", "\n  \n\t\n", "# away\n\n"} {
		os.WriteFile(e.Path(".forward"), []byte(forward), 0o600)
		e.MustSend(fmt.Sprintf("Subject: plain %d\n\nx\n", i), me)
		e.Once()
		if n := testenv.Files(e.Path("Maildir", "new")); len(n) != i+1 {
			t.Errorf(".forward %q: store has %d, want %d", forward, len(n), i+1)
		}
	}
	argv := argvScript(t, e, "argv.sh", e.Path("argv.out"))
	forward := "\ufeffwork@remote.example (my work address)\r\n\\" + me + "\r\n|" + argv + ` 'it''s' "a b"` + "\r\n"
	os.WriteFile(e.Path(".forward"), []byte(forward), 0o600)
	e.MustSend("Subject: shaped\n\nx\n", me)
	e.Once()
	if h.Count("work@remote.example") != 1 {
		t.Errorf("smarthost: %v", h.All())
	}
	if n := testenv.Files(e.Path("Maildir", "new")); len(n) != 4 {
		t.Errorf("store has %d, want 4 (the \\%s copy)", len(n), me)
	}
	if b, _ := os.ReadFile(e.Path("argv.out")); string(b) != "[its]\n[a b]\n" {
		t.Errorf("argv.out = %q", b)
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
}
