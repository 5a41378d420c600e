package forwarder

import (
	"strings"
	"testing"
)

// A quoted local part stays one address: the quotes are put back where
// the local part needs them, so that a comma or a blank in it reaches
// the smarthost as written ("a,b"@example.org, not a,b@example.org).
// A quoted local name is looked up as it reads, like a quoted alias name.
func TestQuotedLocalPart(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", strings.Join([]string{
		`list: "a,b"@example.org, "john doe"@example.org, "plain"@example.org`,
		`root: "two words"`,
		`"two words": z@example.org`,
		`esc: "say \"hi\""@example.org`,
		"",
	}, "\n"), 0o600)
	check(t, "list", e.resolve("list"), `"a,b"@example.org`, `"john doe"@example.org`, "plain@example.org")
	check(t, "root", e.resolve("root"), "z@example.org")
	check(t, "esc", e.resolve("esc"), `"say \"hi\""@example.org`)
	// A recipient with a quoted local part, as SMTP hands it over.
	check(t, "quoted rcpt", e.resolve(`"Two Words"@box.example.org`), "z@example.org")
	// An extension carried over to a quoted name stays inside the quotes.
	check(t, "root+cron", e.resolve("root+cron"), "z@example.org")
	e.user(".forward", "\"john doe\"@example.org, \\alice\n", 0o600)
	check(t, "forward", e.resolve("alice"), `"john doe"@example.org`, `\alice`)
	e.noWarnings()
}

// :include: is matched without regard to case, as Postfix's local(8)
// and sendmail match it.
func TestIncludeAnyCase(t *testing.T) {
	e := newEnv(t, "")
	inc := e.user("lists/team", "bob@example.com\n", 0o600)
	e.user(".config/homepost/aliases", "team: :INCLUDE:"+inc+"\nteam2: :Include:"+inc+"\n", 0o600)
	check(t, "team", e.resolve("team"), "bob@example.com")
	check(t, "team2", e.resolve("team2"), "bob@example.com")
	reports, errs := Check(e.cfg)
	if len(errs) != 0 {
		t.Errorf("Check: %v", errs)
	}
	found := false
	for _, r := range reports {
		found = found || r.Kind == KindInclude && r.Path == inc
	}
	if !found {
		t.Errorf("Check does not read %s: %+v", inc, reports)
	}
}

// A byte order mark, which some editors put at the start of a file, is
// no part of the first name or value: without this the first alias
// ("\ufeffroot") never matched and the first .forward value was an
// address with the mark in it.
func TestByteOrderMark(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", "\ufeffroot: x@example.org\r\n", 0o600)
	e.user(".forward", "\ufeffy@example.org\r\n", 0o600)
	check(t, "root", e.resolve("root"), "x@example.org")
	check(t, "alice", e.resolve("alice"), "y@example.org")
	e.noWarnings()
}

// An entry whose continuation lines make it too long is not delivered
// in part: what could not be read bounces, with file:line.
func TestEntryTooLong(t *testing.T) {
	e := newEnv(t, "")
	long := strings.Repeat("x", maxLine/2)
	e.user(".config/homepost/aliases", "big: a@example.org,\n  "+long+"@example.org,\n  "+long+"@example.org\n", 0o600)
	got := e.resolve("big")
	if len(got) != 3 || got[0] != "a@example.org" || got[1] != long+"@example.org" ||
		!strings.HasPrefix(got[2], "FAIL 5.1.3 ~/.config/homepost/aliases:3: alias big: bad value: ") || !strings.Contains(got[2], "longer than 1 MiB") {
		t.Errorf("big = %.300q", got)
	}
	// A single line too long still names its alias, which bounces.
	e.user(".config/homepost/aliases", "huge: "+strings.Repeat("y", maxLine+1)+"\n", 0o600)
	got = e.resolve("huge")
	if len(got) != 1 || !strings.HasPrefix(got[0], "FAIL 5.1.3 ~/.config/homepost/aliases:1: alias huge: bad value: ") || !strings.Contains(got[0], "longer than 1 MiB") {
		t.Errorf("huge = %.300q", got)
	}
}

// '#' starts a comment only at the start of a line, as in aliases(5):
// the error for "alice # admin" says so.
func TestInlineCommentHint(t *testing.T) {
	_, _, errs := parseForward(strings.NewReader("alice@example.org # work\n"), "f")
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "'#' starts a comment only at the start of a line") {
		t.Errorf("errors %v", errs)
	}
}

// Files as editors and other mail systems leave them: CRLF line ends,
// no newline at the end, only blank lines, only commas.
func TestFileShapes(t *testing.T) {
	e := newEnv(t, "")
	for _, c := range []struct {
		forward string
		want    []string
	}{
		{"", []string{`\alice`}},
		{"\n\n  \n\t\n", []string{`\alice`}},
		{"# only a comment\n", []string{`\alice`}},
		{",,\n", []string{`\alice`}},
		{"x@example.org", []string{"x@example.org"}},
		{"x@example.org\r\n\\alice\r\n", []string{"x@example.org", `\alice`}},
		{"\\alice, other@example.org\n", []string{`\alice`, "other@example.org"}},
		{"alice\n", []string{`\alice`}},
		{"ALICE@box.example.org, b@example.org\n", []string{`\alice`, "b@example.org"}},
	} {
		e.user(".forward", c.forward, 0o600)
		check(t, c.forward, e.resolve("alice"), c.want...)
	}
	e.user(".forward", "", 0o600)
	for _, c := range []struct {
		aliases string
		want    []string
	}{
		{"root: x@example.org", []string{"x@example.org"}},
		{"root: x@example.org,\r\n  y@example.org\r\n", []string{"x@example.org", "y@example.org"}},
		{"root: x@example.org,\n# between\n\n  y@example.org\n", []string{"x@example.org", "y@example.org"}},
		{"ROOT: x@example.org\n", []string{"x@example.org"}},
		{"#root: x@example.org\n", []string{`\alice`}},
	} {
		e.user(".config/homepost/aliases", c.aliases, 0o600)
		check(t, c.aliases, e.resolve("root"), c.want...)
	}
	e.noWarnings()
}

// An entry that cannot be read at all (a missing ':', blank space in its
// name) is not taken for no entry: mail for the name it starts with
// bounces with 5.1.3 and the file:line, rather than "user unknown" or
// the store without a word. Mail for the user's login and the system
// names stays in the store, with the warning.
func TestBrokenEntryBounces(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", "nightly alice@example.org\nok: x@example.org\ntwo words: y@example.org\nalice bob@example.org\n", 0o600)
	e.system("postmaster root\n")
	for _, c := range []struct{ rcpt, line, why string }{
		{"nightly", "~/.config/homepost/aliases:1", "missing ':'"},
		{"Nightly+daily", "~/.config/homepost/aliases:1", "missing ':'"},
		{`"two words"`, "~/.config/homepost/aliases:3", "contains blank space"},
	} {
		got := e.resolve(c.rcpt)
		if len(got) != 1 || !strings.HasPrefix(got[0], "FAIL 5.1.3 "+c.line+": ") || !strings.Contains(got[0], c.why) {
			t.Errorf("%s = %q, want a 5.1.3 bounce naming %s", c.rcpt, got, c.line)
		}
		e.wantWarning(strings.TrimPrefix(c.line, "~/"))
	}
	check(t, "ok", e.resolve("ok"), "x@example.org")
	check(t, "root", e.resolve("root"), `\alice`)
	e.log.Reset()
	check(t, "postmaster", e.resolve("postmaster"), `\alice`)
	e.wantWarning("etc-aliases:1: the entry for postmaster cannot be read: missing ':'")
	e.log.Reset()
	check(t, "alice", e.resolve("alice"), `\alice`)
	e.wantWarning("aliases:4: the entry for alice cannot be read: missing ':'")
}

// A comment in parentheses after an address, as old aliases and
// .forward files carry it, is no part of the address (sendmail's and
// Postfix's parsers set it aside), and blanks around the '@' do not
// split an address. A command or file name keeps its parentheses.
func TestAddressComments(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", strings.Join([]string{
		"root: alice@example.org (the admin), bob@example.org(Bob (B.) Smith)",
		"spaced: carol @ example.org, dave@ example.org",
		`quoted: "(not a comment)"@example.org`,
		"paths: |echo (x) > /dev/null, " + e.home + "/mbox(old)",
		"open: x@example.org (unterminated",
		"",
	}, "\n"), 0o600)
	// The file's problem is logged once, when it is read.
	e.f.Load()
	e.wantWarning("aliases:5: unterminated comment")
	e.log.Reset()
	check(t, "root", e.resolve("root"), "alice@example.org", "bob@example.org")
	check(t, "spaced", e.resolve("spaced"), "carol@example.org", "dave@example.org")
	check(t, "quoted", e.resolve("quoted"), `"(not a comment)"@example.org`)
	check(t, "paths", e.resolve("paths"), "|echo (x) > /dev/null", "~/mbox(old)")
	e.noWarnings()
	got := e.resolve("open")
	if len(got) != 1 || !strings.HasPrefix(got[0], "FAIL 5.1.3 ~/.config/homepost/aliases:5: ") || !strings.Contains(got[0], "unterminated comment") {
		t.Errorf("open = %q", got)
	}
	e.user(".forward", "alice@example.org (work)\n\\alice (a copy)\n", 0o600)
	e.log.Reset()
	check(t, "forward", e.resolve("alice"), "alice@example.org", `\alice`)
	e.noWarnings()
}

// An address may start with '!' (it is atext): its target survives the
// queue journal as an address, not as a failure.
func TestBangAddressSurvivesJournal(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", "bang: !old@example.org\n", 0o600)
	check(t, "bang", e.resolve("bang"), "!old@example.org")
	for _, spec := range []string{"!old@example.org", "!5.1.1@example.org", "!x"} {
		if got := ParseSpec(spec, "v"); got.Kind != Remote || got.Value != spec {
			t.Errorf("ParseSpec(%q) = %+v", spec, got)
		}
	}
	if got := ParseSpec("!5.1.1 bob: user unknown", "v"); got.Kind != Fail || got.Result.DSN != "5.1.1" {
		t.Errorf("a failure read back as %+v", got)
	}
}

// homepost resolve says when the entry it uses has a later duplicate,
// which is ignored: the first definition wins, as in Postfix.
func TestDuplicateShownByResolve(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", "root: x@example.org\nother: y@example.org\nRoot: z@example.org\n", 0o600)
	var trace []string
	ts := e.f.Explain("root", nil, func(_ int, msg string) { trace = append(trace, msg) })
	if len(ts) != 1 || ts[0].Value != "x@example.org" {
		t.Errorf("targets %+v", ts)
	}
	if s := strings.Join(trace, "\n"); !strings.Contains(s, `aliases:3: warning: duplicate alias "root" ignored (first defined at line 1)`) {
		t.Errorf("resolve does not show the duplicate:\n%s", s)
	}
	// Logged once when the file is read, as newaliases reports it;
	// delivery does not log it each time.
	if n := strings.Count(e.log.String(), `duplicate alias \"root\"`); n != 1 {
		t.Errorf("duplicate logged %d times, want once:\n%s", n, e.log.String())
	}
	e.log.Reset()
	e.resolve("root")
	e.noWarnings()
}
