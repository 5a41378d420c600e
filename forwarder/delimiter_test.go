package forwarder

import (
	"fmt"
	"testing"
)

// delimEnv is newEnv with recipient_delimiter d and other_users mode:
// "bounce" tells a login ("not accepted") from no login ("user
// unknown").
func delimEnv(t *testing.T, d, mode string) *env {
	t.Helper()
	e := newEnv(t, fmt.Sprintf("recipient_delimiter = %q\nother_users = %q\n", d, mode))
	e.system("")
	return e
}

const (
	notAccepted = ": mail for other local users is not accepted (other_users = bounce)"
	unknown     = ": user unknown"
)

// A login that holds the delimiter is found whole, before the name
// without its extension: www-data is the login www-data with "-", as
// with "+" (Postfix: "user+foo before trying user").
func TestDelimiterLoginWhole(t *testing.T) {
	for _, d := range []string{"-", "+", "=", ".", "_"} {
		t.Run(d, func(t *testing.T) {
			login := "www" + d + "data"
			fakeUsers(t, login, "bob", "alice"+d+"lists")
			e := delimEnv(t, d, "bounce")
			check(t, login, e.resolve(login), "FAIL 5.1.1 "+login+notAccepted)
			check(t, login+"@box", e.resolve(login+"@box.example.org"), "FAIL 5.1.1 "+login+notAccepted)
			// The part before the delimiter only when the whole is no login.
			check(t, "bob"+d+"x", e.resolve("bob"+d+"x"), "FAIL 5.1.1 bob"+d+"x"+notAccepted)
			check(t, "www"+d+"x", e.resolve("www"+d+"x"), "FAIL 5.1.1 www"+d+"x"+unknown)
			// Another user's whole login comes before the user's own
			// extension; a name that is none is the extension.
			e.user(".forward"+d+"lists", "~/Maildir/.Lists/\n", 0o644)
			e.user(".forward"+d+"other", "~/Maildir/.Other/\n", 0o644)
			check(t, "alice"+d+"lists", e.resolve("alice"+d+"lists"), "FAIL 5.1.1 alice"+d+"lists"+notAccepted)
			check(t, "alice"+d+"other", e.resolve("alice"+d+"other"), "~/Maildir/.Other/")
			check(t, "alice", e.resolve("alice"), `\alice`)
			// other_users = me: another user's mail is the user's.
			e = delimEnv(t, d, "me")
			check(t, login+" me", e.resolve(login), `\alice`)
		})
	}
}

// A login with capitals (Debian-exim) is found as written; the password
// database is case-sensitive, the aliases are not.
func TestDelimiterLoginAsWritten(t *testing.T) {
	fakeUsers(t, "Debian-exim")
	e := delimEnv(t, "-", "bounce")
	check(t, "Debian-exim", e.resolve("Debian-exim"), "FAIL 5.1.1 debian-exim"+notAccepted)
	check(t, "Debian-exim-x", e.resolve("Debian-exim-x@box"), "FAIL 5.1.1 debian-exim-x"+unknown)
	check(t, "debian-exim", e.resolve("debian-exim"), "FAIL 5.1.1 debian-exim"+unknown)
	e = delimEnv(t, "+", "bounce")
	check(t, "Debian-exim+x", e.resolve("Debian-exim+x"), "FAIL 5.1.1 debian-exim+x"+notAccepted)
}

// The whole name is looked up in every aliases file before the name
// without its extension, as Postfix looks up the whole local part in
// all of alias_maps first.
func TestDelimiterAliasWholeInEveryFile(t *testing.T) {
	fakeUsers(t, "www-data")
	e := delimEnv(t, "-", "bounce")
	e.user(".config/homepost/aliases", "www: bob@example.com\n", 0o600)
	e.system("www-data: carol@example.net\nmy-list: dave@example.net\n")
	check(t, "www-data", e.resolve("www-data"), "carol@example.net")
	check(t, "my-list", e.resolve("my-list"), "dave@example.net")
	check(t, "www-other", e.resolve("www-other"), "bob@example.com")
	// Every alias comes before any login, as in Postfix's local(8)
	// ("delivered to the alias name+foo or to the alias name, to the
	// destinations listed in ~name/.forward+foo ..."): without the
	// system alias, the user's alias www takes www-data's mail.
	e.system("")
	check(t, "www-data alias www", e.resolve("www-data"), "bob@example.com")
	e.user(".config/homepost/aliases", "other: bob@example.com\n", 0o600)
	check(t, "www-data login", e.resolve("www-data"), "FAIL 5.1.1 www-data"+notAccepted)
}

// An alias that names a login with the delimiter in it reaches that
// login, not itself again.
func TestDelimiterAliasNamesLogin(t *testing.T) {
	fakeUsers(t, "www-data")
	e := delimEnv(t, "-", "bounce")
	e.user(".config/homepost/aliases", "www: www-data, bob@example.com\nme: alice-inbox\n", 0o600)
	e.user(".forward-inbox", "~/Maildir/.Inbox/\n", 0o644)
	check(t, "www", e.resolve("www"), "FAIL 5.1.1 www-data"+notAccepted, "bob@example.com")
	check(t, "me", e.resolve("me"), "~/Maildir/.Inbox/")
}

// Postfix never splits postmaster and mailer-daemon, and with "-" in
// the delimiter set neither owner-name nor name-request
// (owner_request_special): the part before the "-" is never looked up.
func TestDelimiterNeverSplit(t *testing.T) {
	fakeUsers(t, "owner", "bob")
	e := delimEnv(t, "-", "bounce")
	e.user(".config/homepost/aliases", "mailer: x@example.org\nowner: y@example.org\nlist: z@example.org\nbob-request: w@example.org\n", 0o600)
	check(t, "mailer-daemon", e.resolve("mailer-daemon"), `\alice`)
	check(t, "MAILER-DAEMON", e.resolve("MAILER-DAEMON@box"), `\alice`)
	check(t, "owner-list", e.resolve("owner-list"), "FAIL 5.1.1 owner-list"+unknown)
	check(t, "list-request", e.resolve("list-request"), "FAIL 5.1.1 list-request"+unknown)
	check(t, "bob-request", e.resolve("bob-request"), "w@example.org")
	check(t, "list-x", e.resolve("list-x"), "z@example.org")
	e = delimEnv(t, "+", "bounce")
	e.user(".config/homepost/aliases", "owner: y@example.org\npostmaster: v@example.org\n", 0o600)
	check(t, "owner+x", e.resolve("owner+x"), "y@example.org")
	check(t, "owner-list +", e.resolve("owner-list"), "FAIL 5.1.1 owner-list"+unknown)
	check(t, "postmaster+x", e.resolve("postmaster+x"), "v@example.org")
}

func TestParseName(t *testing.T) {
	for _, c := range []struct {
		delim, local           string
		key, base, sep, ext, w string
	}{
		{"+", "alice", "alice", "alice", "", "", "alice"},
		{"+", "Alice+Debian", "alice+debian", "alice", "+", "debian", "Alice"},
		{"+", "+x", "+x", "+x", "", "", "+x"},
		{"+", "a+b+c", "a+b+c", "a", "+", "b+c", "a"},
		{"", "a+b", "a+b", "a+b", "", "", "a+b"},
		{"-", "www-data", "www-data", "www", "-", "data", "www"},
		{"-", "Debian-exim", "debian-exim", "debian", "-", "exim", "Debian"},
		{"-", "mailer-daemon", "mailer-daemon", "mailer-daemon", "", "", "mailer-daemon"},
		{"-", "Owner-List", "owner-list", "owner-list", "", "", "Owner-List"},
		{"-", "list-request", "list-request", "list-request", "", "", "list-request"},
		{"-", "-request", "-request", "-request", "", "", "-request"},
		{"+", "owner+x", "owner+x", "owner", "+", "x", "owner"},
		{"+", "postmaster", "postmaster", "postmaster", "", "", "postmaster"},
		{"+", "postmaster+x", "postmaster+x", "postmaster", "+", "x", "postmaster"},
		{"-", "a-", "a-", "a", "-", "", "a"},
		// A set of delimiters (Postfix 2.11): the first one found.
		{"+-", "alice-x+y", "alice-x+y", "alice", "-", "x+y", "alice"},
		{"+-", "alice+x-y", "alice+x-y", "alice", "+", "x-y", "alice"},
		{"+-", "owner-x+y", "owner-x+y", "owner-x+y", "", "", "owner-x+y"},
	} {
		e := newEnv(t, "")
		e.cfg.RecipientDelimiter = c.delim
		n := e.f.parseName(c.local)
		if n.key != c.key || n.base != c.base || n.sep != c.sep || n.ext != c.ext || n.writtenBase != c.w || n.written != c.local {
			t.Errorf("%q with %q: %+v, want key %q base %q sep %q ext %q writtenBase %q", c.local, c.delim, n, c.key, c.base, c.sep, c.ext, c.w)
		}
		if n.ext != "" && n.key != n.base+n.sep+n.ext {
			t.Errorf("%q: %q != %q+%q+%q", c.local, n.key, n.base, n.sep, n.ext)
		}
	}
}

// With a set of delimiters, .forward is named with the one found.
func TestDelimiterSetForward(t *testing.T) {
	e := newEnv(t, "")
	e.cfg.RecipientDelimiter = "+-"
	e.system("")
	e.user(".forward-lists", "~/Maildir/.Lists/\n", 0o644)
	e.user(".forward+cron", "~/Maildir/.Cron/\n", 0o644)
	check(t, "alice-lists", e.resolve("alice-lists"), "~/Maildir/.Lists/")
	check(t, "alice+cron", e.resolve("alice+cron"), "~/Maildir/.Cron/")
	check(t, "alice+lists", e.resolve("alice+lists"), `\alice`)
}

// With other_users = relay no login is looked up, except the whole
// name whose base is the user's own or a system name: another user's
// login alice-lists is relayed, not read as alice's extension. A
// password database that cannot answer defers, never bounces or
// guesses.
func TestDelimiterRelayAndLookupErrors(t *testing.T) {
	old := lookupUser
	t.Cleanup(func() { lookupUser = old })
	var asked []string
	lookupUser = func(n string) (bool, error) {
		asked = append(asked, n)
		switch n {
		case "alice-down", "root-down":
			return false, errLookup
		}
		return n == "alice-lists", nil
	}
	e := newEnv(t, "recipient_delimiter = \"-\"\nother_users = \"relay\"\nrelay_domain = \"corp.example\"\n")
	e.system("")
	e.user(".forward-x", "~/Maildir/.X/\n", 0o644)
	check(t, "alice-lists", e.resolve("alice-lists"), "alice-lists@corp.example")
	check(t, "alice-x", e.resolve("alice-x"), "~/Maildir/.X/")
	check(t, "www-data", e.resolve("www-data"), "www-data@corp.example")
	check(t, "alice-down", e.resolve("alice-down"), "FAIL 4.3.0 alice-down: cannot look the name up in the password database")
	check(t, "root-down", e.resolve("root-down"), "FAIL 4.3.0 root-down: cannot look the name up in the password database")
	check(t, "alice", e.resolve("alice"), `\alice`)
	check(t, "asked", asked, "alice-lists", "alice-x", "alice-down", "root-down")
}
