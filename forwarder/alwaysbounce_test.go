package forwarder

import (
	"slices"
	"strings"
	"testing"
)

// A line of ~/.forward or of the user's aliases that reads well but
// whose every message bounces is named with its file:line: a command
// whose program is not found (by its path, or in the PATH commands run
// with) by resolve, Check (homepost check, newaliases) and the agent's
// log when it reads the files; a local name that is neither a login nor
// an alias, such as a path written without its leading / or ~/, by
// Check (resolve shows its bounce already). A command that the shell
// runs and finds (a built-in, a keyword, a program) is not named. The
// targets stay what they were: such mail still bounces, none is kept
// or dropped instead.
func TestLinesThatAlwaysBounce(t *testing.T) {
	fakeUsers(t, "alice", "bob")
	e := newEnv(t, "")
	e.system("staff: bob\n")
	e.user(".forward", "|/usr/local/bin/nosuchprog-xyz -x\n|nosuchprog-xyz --flag\nfwd/\n|exit 75\n|test -d ~/x && cat >>~/x/log\n|cat\nstaff, bob, bob@example.org\n", 0o600)
	e.user(".config/homepost/aliases", "bad: |nosuchprog-xyz\ngood: |exit 0, \\alice, bob\ntypo: Alcie\n", 0o600)

	want := []string{"|/usr/local/bin/nosuchprog-xyz -x", "|nosuchprog-xyz --flag", "FAIL 5.1.1 fwd/: user unknown",
		"|exit 75", "|test -d ~/x && cat >>~/x/log", "|cat", `\alice`, "bob@example.org"}
	if got := e.resolve("alice"); !slices.Equal(got, want) {
		t.Errorf("alice -> %q, want %q", got, want)
	}
	if got := e.resolve("bad"); !slices.Equal(got, []string{"|nosuchprog-xyz"}) {
		t.Errorf("bad -> %q", got)
	}
	const inPath = "nosuchprog-xyz not found in /usr/local/bin:/usr/bin:/bin (the PATH commands run with); every message to it bounces"
	var trace []string
	e.f.Explain("alice", nil, func(_ int, msg string) { trace = append(trace, msg) })
	text := strings.ReplaceAll(strings.Join(trace, "\n"), e.home, "~")
	for _, w := range []string{
		`warning: ~/.forward:1: command "/usr/local/bin/nosuchprog-xyz -x": /usr/local/bin/nosuchprog-xyz not found; every message to it bounces`,
		`warning: ~/.forward:2: command "nosuchprog-xyz --flag": ` + inPath,
	} {
		if !strings.Contains(text, w) {
			t.Errorf("resolve trace lacks %q:\n%s", w, text)
		}
	}
	if n := strings.Count(text, "not found"); n != 2 {
		t.Errorf("%d lines say not found, want 2:\n%s", n, text)
	}
	trace = nil
	e.f.Explain("good", nil, func(_ int, msg string) { trace = append(trace, msg) })
	if text := strings.Join(trace, "\n"); strings.Contains(text, "warning") {
		t.Errorf("good:\n%s", text)
	}

	reports, errs := Check(e.cfg)
	if len(errs) != 0 {
		t.Errorf("errors %v: a line that bounces is a warning", errs)
	}
	got := map[string][]string{}
	for _, r := range reports {
		for _, w := range r.Warnings {
			got[r.Kind] = append(got[r.Kind], strings.ReplaceAll(w.Error(), e.home, "~"))
		}
	}
	wantWarn := map[string][]string{
		KindForward: {
			`~/.forward:1: command "/usr/local/bin/nosuchprog-xyz -x": /usr/local/bin/nosuchprog-xyz not found; every message to it bounces`,
			`~/.forward:2: command "nosuchprog-xyz --flag": ` + inPath,
			"~/.forward:3: fwd/ is neither a login here nor an alias: every message to it bounces (5.1.1 user unknown); a file or a Maildir is written with a leading / or ~/",
		},
		KindAliases: {
			`~/.config/homepost/aliases:1: command "nosuchprog-xyz": ` + inPath,
			"~/.config/homepost/aliases:3: Alcie is neither a login here nor an alias: every message to it bounces (5.1.1 user unknown)",
		},
	}
	for k, w := range wantWarn {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s warnings:\n%s\nwant:\n%s", k, strings.Join(got[k], "\n"), strings.Join(w, "\n"))
		}
	}
	if len(got) != len(wantWarn) {
		t.Errorf("warnings %q", got)
	}

	e.log.Reset()
	e.f.Load()
	e.wantWarning(".forward:1: command \\\"/usr/local/bin/nosuchprog-xyz -x\\\": /usr/local/bin/nosuchprog-xyz not found")
	e.wantWarning(".forward:2: command \\\"nosuchprog-xyz --flag\\\": nosuchprog-xyz not found")
	e.wantWarning("aliases:1: command \\\"nosuchprog-xyz\\\": nosuchprog-xyz not found")
}

// A name that is not known for now only (the password database does
// not answer), one of another login, and any name with other_users =
// relay (the relay domain's server knows its users) is no warning.
func TestUnknownNameOnlyWhenSure(t *testing.T) {
	fakeUsers(t, "alice", "bob")
	e := newEnv(t, "")
	e.system("")
	e.user(".forward", "broken-db\nbob\n", 0o600)
	reports, _ := Check(e.cfg)
	for _, r := range reports {
		if len(r.Warnings) > 0 {
			t.Errorf("%s: %v", r.Path, r.Warnings)
		}
	}
	e = newEnv(t, "other_users = \"relay\"\nrelay_domain = \"corp.example\"")
	e.system("")
	e.user(".forward", "fwd/\nnobody-xyz\n", 0o600)
	reports, _ = Check(e.cfg)
	for _, r := range reports {
		if len(r.Warnings) > 0 {
			t.Errorf("relay: %s: %v", r.Path, r.Warnings)
		}
	}
}
