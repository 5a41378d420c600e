package forwarder

import (
	"strings"
	"testing"
)

// A ~/.forward or :include: line that cannot be read is not silently
// dropped: each delivery logs a warning with file:line (as Postfix's
// local(8) does), and homepost resolve does not call the file empty.
func TestBrokenForwardLineWarns(t *testing.T) {
	e := newEnv(t, "")
	e.user(".forward", "\"me@example.com\n", 0o600)
	check(t, "alice", e.resolve("alice"), `\alice`)
	e.wantWarning(".forward:1")
	var trace []string
	e.f.Explain("alice", nil, func(_ int, msg string) { trace = append(trace, msg) })
	if s := strings.Join(trace, "\n"); strings.Contains(s, "is empty") || !strings.Contains(s, ".forward:1") {
		t.Errorf("resolve trace:\n%s", s)
	}

	// A good line next to a bad one still counts, with the warning,
	// and the bad one keeps a copy in the store.
	e = newEnv(t, "")
	e.user(".forward", "friend@example.com\n\"broken\n", 0o600)
	check(t, "alice", e.resolve("alice"), "friend@example.com", `\alice`)
	e.wantWarning(".forward:2")

	// In an :include: file, as in an alias, the bad value bounces.
	e = newEnv(t, "")
	inc := e.user("list", "bob@example.com, \"oops\n", 0o600)
	e.user(".config/homepost/aliases", "team: :include:"+inc+"\n", 0o600)
	check(t, "team", e.resolve("team"), "bob@example.com", `FAIL 5.1.3 ~/list:1: bad value: unterminated quote in "\"oops"`)
	e.wantWarning("list:1")
}

// A .forward line "/" (or "//", "/./") names no mailbox: delivering to a
// "Maildir" at / would create /tmp, /new and /cur there. The mail is
// kept in the store with a warning.
func TestRootDirectoryIsNoMailbox(t *testing.T) {
	for _, line := range []string{"/", "//", "/./", "/.."} {
		e := newEnv(t, "")
		e.user(".forward", line+"\n", 0o600)
		check(t, line, e.resolve("alice"), `\alice`)
		e.wantWarning("root directory")
	}
}
