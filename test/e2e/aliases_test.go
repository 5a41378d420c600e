package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"homepost/test/testenv"
)

// dsns returns the texts of the messages in the store's new/, unfolded.
func dsns(t *testing.T, e *testenv.Env) []string {
	t.Helper()
	var out []string
	for _, f := range testenv.Files(e.Path("Maildir", "new")) {
		b, err := os.ReadFile(e.Path("Maildir", "new", f))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, regexp.MustCompile(`\r?\n([ \t])`).ReplaceAllString(string(b), "$1"))
	}
	return out
}

// A continuation line written without its leading blank, after a value
// that ends with a comma, is never dropped unsaid: the agent logs the
// line when it reads the aliases file (once, not per message), homepost
// resolve shows it, and mail for the alias goes to the values that can
// be read and bounces (5.1.3) for the line, naming aliases:2 and its
// text.
func TestAliasesUnindentedContinuation(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte("team: a@test.invalid,\nb@test.invalid\n"), 0o600)

	out, _, code := e.Run(nil, "homepost", "resolve", "team")
	for _, want := range []string{"a@test.invalid (through the smarthost)", "bounce: 5.1.3", "aliases:2", `"b@test.invalid"`, "warning: "} {
		if !strings.Contains(out, want) {
			t.Errorf("resolve team lacks %q:\n%s", want, out)
		}
	}
	if code != 67 {
		t.Errorf("resolve team: exit %d, want 67 (a part bounces)", code)
	}

	agent := e.Cmd(nil, "homepost", "agent")
	var log testenv.LockedBuffer
	agent.Stderr = &log
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		agent.Process.Kill()
		agent.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	})
	e.WaitFor(func() bool { return strings.Contains(log.String(), "agent started") }, "agent start")
	loaded := func() int { return strings.Count(log.String(), `msg="forwarding file" reason=`) }
	if loaded() != 1 || !strings.Contains(log.String(), "aliases:2: missing ':'") {
		t.Errorf("the agent's start logged the aliases file's problem %d times, want once", loaded())
	}

	from := testenv.Login(t) + "@testhost.example"
	e.MustSend("Subject: team1\n\nx\n", "-f", from, "team")
	e.MustSend("Subject: team2\n\nx\n", "-f", from, "team")
	e.WaitFor(func() bool {
		return h.Count("a@test.invalid") == 2 && len(testenv.Files(e.Path("Maildir", "new"))) == 2
	}, "a@ and two DSNs")
	for _, d := range dsns(t, e) {
		if !strings.Contains(d, "5.1.3") || !strings.Contains(d, "aliases:2") || !strings.Contains(d, "b@test.invalid") {
			t.Errorf("DSN does not name 5.1.3, aliases:2 and b@test.invalid:\n%s", d)
		}
	}
	if n := loaded(); n != 1 {
		t.Errorf("the file's problem was logged %d times after two messages, want once", n)
	}
	// A reload reads the file again, and says so again, once.
	agent.Process.Signal(syscall.SIGHUP)
	e.WaitFor(func() bool { return loaded() == 2 }, "the problem logged at the reload")
	if h.Count("b@test.invalid") != 0 {
		t.Errorf("b@test.invalid got mail: the line was read as an address")
	}
}

// A path to the aliases file that config.toml names (not the default)
// and that does not exist is a warning of homepost check naming the key
// and config.toml:N; mail for a name no other file knows waits in the
// queue saying why, instead of bouncing "user unknown", and is
// delivered once the setting is fixed.
func TestAliasesConfiguredPathMissing(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	// testenv writes three lines before the extra text: aliases is at line 4.
	e := testenv.New(t, fmt.Sprintf("aliases = \"~/.config/homepost/alias\"\n[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	os.WriteFile(e.Path(".config", "homepost", "aliases.real"), []byte("team: bob@remote.example\n"), 0o600)
	conf := e.Path(".config", "homepost", "config.toml")

	out, _, _ := e.Run(nil, "homepost", "check")
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "aliases") && !strings.Contains(l, "system aliases") {
			line = l
		}
	}
	if !strings.HasPrefix(line, "warn") || !strings.Contains(line, conf+":4") || !strings.Contains(line, "does not exist") {
		t.Errorf("check's aliases line = %q, want a warning naming %s:4:\n%s", line, conf, out)
	}

	out, _, code := e.Run(nil, "homepost", "resolve", "team")
	if !strings.Contains(out, conf+":4") || !strings.Contains(out, "deferred: 4.3.0") || strings.Contains(out, "user unknown") {
		t.Errorf("resolve team (exit %d):\n%s", code, out)
	}

	e.MustSend("Subject: wait\n\nx\n", "-f", testenv.Login(t)+"@testhost.example", "team")
	e.Once()
	if q, _, _ := e.Run(nil, "mailq"); !strings.Contains(q, "config.toml:4") {
		t.Errorf("mailq does not say why the message waits:\n%s", q)
	}
	if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 0 {
		t.Errorf("store holds %d messages, want none (no bounce)", n)
	}

	b, _ := os.ReadFile(conf)
	os.WriteFile(conf, []byte(strings.Replace(string(b), `"~/.config/homepost/alias"`, `"~/.config/homepost/aliases.real"`, 1)), 0o600)
	e.Run(nil, "homepost", "flush")
	e.Once()
	if h.Count("bob@remote.example") != 1 {
		t.Errorf("after the fix bob@remote.example got %d messages, want 1: %v", h.Count("bob@remote.example"), h.All())
	}
}

// An alias loop through names that are no logins bounces saying so,
// with the names and the lines, in homepost resolve and in the DSN.
func TestAliasesLoop(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte("lista: listb\nlistb: lista\n"), 0o600)
	want := "alias loop: lista -> listb -> lista ("
	out, _, code := e.Run(nil, "homepost", "resolve", "lista")
	if !strings.Contains(out, "bounce: 5.4.6 "+want) || !strings.Contains(out, "aliases:1, ") || !strings.Contains(out, "aliases:2)") || code != 67 {
		t.Errorf("resolve lista (exit %d):\n%s", code, out)
	}
	e.MustSend("Subject: loop\n\nx\n", "-f", testenv.Login(t)+"@testhost.example", "lista")
	e.Once()
	d := dsns(t, e)
	if len(d) != 1 || !strings.Contains(d[0], "5.4.6") || !strings.Contains(d[0], want) || strings.Contains(d[0], "user unknown") {
		t.Errorf("DSN for the loop: %q", d)
	}
}
