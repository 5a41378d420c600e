package forwarder

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"homepost/config"
)

// A line that cannot be read right after an entry whose value ends with
// a comma (the value says more follows) is a continuation written
// without its leading blank: it belongs to that entry, whose mail goes
// to the values that can be read and bounces (5.1.3) for that line,
// naming file:line and its text, instead of leaving it out unsaid.
func TestUnindentedContinuationBounces(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", strings.Join([]string{
		"team: a@test.invalid,",
		"b@test.invalid",
		"two: c@test.invalid,",
		"# a comment between",
		"",
		"list2 d@test.invalid,",
		"e@test.invalid",
		"closed: f@test.invalid",
		"g@test.invalid",
		"next: h@test.invalid,",
		"other: i@test.invalid",
		"",
	}, "\n"), 0o600)

	got := e.resolve("team")
	if len(got) != 2 || got[0] != "a@test.invalid" || !strings.HasPrefix(got[1], "FAIL 5.1.3 ") ||
		!strings.Contains(got[1], "aliases:2") || !strings.Contains(got[1], "b@test.invalid") {
		t.Errorf("team: %v, want a@test.invalid and a 5.1.3 bounce naming aliases:2 and b@test.invalid", got)
	}
	e.wantWarning("aliases:2")
	var trace []string
	e.f.Explain("team", nil, func(_ int, msg string) { trace = append(trace, msg) })
	if s := strings.Join(trace, "\n"); !strings.Contains(s, "warning: ") || !strings.Contains(s, "aliases:2") {
		t.Errorf("resolve team shows no warning for aliases:2:\n%s", s)
	}

	// Blank and comment lines in between change nothing, and a line
	// that ends with a comma itself carries the entry on.
	got = e.resolve("two")
	if fails := failures(got); len(got) != 3 || got[0] != "c@test.invalid" || len(fails) != 2 ||
		!strings.Contains(fails[0], "aliases:6") || !strings.Contains(fails[1], "aliases:7") {
		t.Errorf("two: %v, want c@test.invalid and bounces naming aliases:6 and aliases:7", got)
	}
	// The line still names its own alias: mail for list2 bounces for it.
	if got := e.resolve("list2"); len(got) != 1 || !strings.HasPrefix(got[0], "FAIL 5.1.3 ") || !strings.Contains(got[0], "aliases:6") {
		t.Errorf("list2: %v, want a 5.1.3 bounce naming aliases:6", got)
	}
	// No comma: the entry is complete, as in sendmail and Postfix.
	check(t, "closed", e.resolve("closed"), "f@test.invalid")
	// A line that can be read as an entry is one, comma or not.
	check(t, "next", e.resolve("next"), "h@test.invalid")
	check(t, "other", e.resolve("other"), "i@test.invalid")

	// newaliases and check name the line and what it does to the entry.
	_, errs := Check(e.cfg)
	s := fmt.Sprint(errs)
	for _, want := range []string{"aliases:2: missing ':'", "team (line 1)", "aliases:9: missing ':'"} {
		if !strings.Contains(s, want) {
			t.Errorf("Check lacks %q: %s", want, s)
		}
	}
}

// The problems of a file that steers forwarding are logged once, when
// the file is read (at the agent's start or reload, or when it
// changed), not again for every message.
func TestFileProblemsLoggedOnce(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", "team: a@test.invalid,\nb@test.invalid\nok: alice\n", 0o600)
	e.f.Load()
	first := e.log.String()
	if strings.Count(first, "aliases:2") != 1 {
		t.Fatalf("Load logged aliases:2 %d times, want once:\n%s", strings.Count(first, "aliases:2"), first)
	}
	for range 3 {
		e.f.Resolve("ok", nil)
	}
	if e.log.String() != first {
		t.Errorf("resolving logged the file's problems again:\n%s", e.log.String())
	}
	// A new Forwarder (a reload) reads the files again and says so again.
	e.f = New(e.cfg, e.f.log)
	e.f.Load()
	if n := strings.Count(e.log.String(), "aliases:2"); n != 2 {
		t.Errorf("after a reload aliases:2 logged %d times in all, want 2:\n%s", n, e.log.String())
	}
}

// A path to an aliases, system aliases or forward file that the user
// wrote in config.toml (not the default) and that does not exist is a
// mistake to point out, naming the key and config.toml:N: mail for a
// name no other file knows waits in the queue (4.3.0, as Postfix defers
// mail while an alias map is unavailable) instead of bouncing as "user
// unknown", and the user's own mail stays in the store.
func TestConfiguredFileMissing(t *testing.T) {
	e := newEnv(t, "forward = \"~/.forwrd\"\n")
	e.system("")
	conf := e.path("config.toml")
	// newEnv writes aliases = "~/.config/homepost/aliases" at line 4,
	// and the extra text at line 6.
	e.user(".config/homepost/aliases.real", "team: bob@example.com\n", 0o600)
	e.reconfigure(`aliases = "~/.config/homepost/aliases"`, `aliases = "~/.config/homepost/alias"`)

	got := e.resolve("team")
	if len(got) != 1 || !strings.HasPrefix(got[0], "FAIL 4.3.0 ") || !strings.Contains(got[0], "config.toml:4") ||
		!strings.Contains(got[0], "/.config/homepost/alias ") || !strings.Contains(got[0], "does not exist") {
		t.Errorf("team: %v, want 4.3.0 naming the aliases file and config.toml:4", got)
	}
	var trace []string
	e.f.Explain("team", nil, func(_ int, msg string) { trace = append(trace, msg) })
	if s := strings.Join(trace, "\n"); !strings.Contains(s, "config.toml:4") {
		t.Errorf("resolve does not name config.toml:4:\n%s", s)
	}
	// The user's own mail reaches the store, with the forward file's
	// mistake said.
	trace = nil
	ts := e.f.Explain("alice", nil, func(_ int, msg string) { trace = append(trace, msg) })
	if len(ts) != 1 || ts[0].Kind != Store {
		t.Errorf("alice: %+v, want the store", ts)
	}
	if s := strings.Join(trace, "\n"); !strings.Contains(s, "config.toml:6") || !strings.Contains(s, ".forwrd") {
		t.Errorf("resolve alice does not name the forward setting at config.toml:6:\n%s", s)
	}

	reports, _ := Check(e.cfg)
	var warns []string
	for _, r := range reports {
		for _, w := range r.Warnings {
			warns = append(warns, r.Kind+": "+w.Error())
		}
	}
	s := strings.Join(warns, "\n")
	for _, want := range []string{"aliases: " + conf + ":4: aliases", "forward: " + conf + ":6: forward"} {
		if !strings.Contains(s, want) {
			t.Errorf("Check warnings lack %q:\n%s", want, s)
		}
	}

	e.log.Reset()
	e.f.Load()
	e.wantWarning("config.toml:4")
	e.wantWarning("config.toml:6")
}

// A default path that does not exist, or a written one that is the
// default, is no mistake: no file means no aliases.
func TestDefaultFileMissing(t *testing.T) {
	e := newEnv(t, "")
	e.system("")
	if got := e.resolve("team"); len(got) != 1 || !strings.HasPrefix(got[0], "FAIL 5.1.1 ") {
		t.Errorf("team: %v, want user unknown", got)
	}
	reports, errs := Check(e.cfg)
	for _, r := range reports {
		if len(r.Warnings) > 0 || len(r.Errors) > 0 {
			t.Errorf("report %+v", r)
		}
	}
	if len(errs) > 0 {
		t.Errorf("errors %v", errs)
	}
	e.f.Load()
	e.noWarnings()
	// The system aliases turned off, or at their default, missing.
	cfg := *e.cfg
	cfg.SystemAliases = config.Defaults(config.NewIdentity(cfg.User, cfg.Home, cfg.FullName, cfg.UID)).SystemAliases
	f := New(&cfg, slog.New(slog.NewTextHandler(&e.log, nil)))
	f.Load()
	e.noWarnings()
}

// An alias loop through names that are no logins says so, with the
// names and the lines, instead of "user unknown" for a name that the
// aliases file does define.
func TestAliasLoop(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", "lista: listb\nlistb: lista\nself: self\nmixed: listc, bob@example.com\nlistc: mixed\n", 0o600)
	got := e.resolve("lista")
	file := "~/.config/homepost/aliases"
	want := fmt.Sprintf("FAIL 5.4.6 alias loop: lista -> listb -> lista (%s:1, %s:2)", file, file)
	check(t, "lista", got, want)
	check(t, "self", e.resolve("self"), fmt.Sprintf("FAIL 5.4.6 alias loop: self -> self (%s:3)", file))
	got = e.resolve("mixed")
	if len(got) != 2 || got[1] != "bob@example.com" || !strings.Contains(got[0], "alias loop: mixed -> listc -> mixed") {
		t.Errorf("mixed: %v", got)
	}
}

// reconfigure replaces old with new in config.toml and reads it again.
func (e *env) reconfigure(old, new string) {
	e.t.Helper()
	conf := e.path("config.toml")
	b, err := os.ReadFile(conf)
	if err != nil || !strings.Contains(string(b), old) {
		e.t.Fatalf("config.toml lacks %q (%v)", old, err)
	}
	if err := os.WriteFile(conf, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		e.t.Fatal(err)
	}
	cfg, err := config.LoadFile(conf, config.NewIdentity("alice", e.home, "Alice", e.uid))
	if err != nil {
		e.t.Fatal(err)
	}
	e.cfg = cfg
	e.f = New(cfg, e.f.log)
}
