package forwarder

import (
	"strings"
	"testing"
)

// failures returns the Fail targets' texts among specs.
func failures(specs []string) []string {
	var out []string
	for _, s := range specs {
		if strings.HasPrefix(s, "FAIL ") {
			out = append(out, s)
		}
	}
	return out
}

// A value of an alias that cannot be read is never dropped without a
// trace: that target bounces (5.1.3, as Postfix's local(8) bounces a
// malformed alias entry) with a reason that names file:line and the
// text, while the alias's other values are delivered; a warning names
// file:line. The same when every value is bad: no store instead.
func TestUnparsableAliasValueBounces(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", strings.Join([]string{
		"bad2: ok2@example.net, <unterminated@example.net",
		"bad4: ok5@example.net, foo bar@example.net",
		"bad5: ok6@example.net,",
		"  \"x3 with space\"@",
		"bad6: a@x.org, \"|unterminated",
		"bad7: ok7@example.net, nul\x00@example.net",
		"allbad: foo bar@example.net, <x@y",
		"",
	}, "\n"), 0o600)
	for _, c := range []struct {
		name, good, line, text string
		fails                  int
	}{
		{"bad2", "ok2@example.net", "aliases:1", "<unterminated@example.net", 1},
		{"bad4", "ok5@example.net", "aliases:2", "foo bar@example.net", 1},
		{"bad5", "ok6@example.net", "aliases:4", "x3 with space", 1},
		{"bad6", "a@x.org", "aliases:5", "|unterminated", 1},
		{"bad7", "ok7@example.net", "aliases:6", `nul\x00@example.net`, 1},
		{"allbad", "", "aliases:7", "foo bar@example.net", 2},
	} {
		e.log.Reset()
		got := e.resolve(c.name)
		fails := failures(got)
		if c.good != "" && (len(got) == 0 || got[0] != c.good) {
			t.Errorf("%s: %v, want %s first", c.name, got, c.good)
		}
		if len(fails) != c.fails || len(got) != c.fails+len(c.good)/max(len(c.good), 1) {
			t.Errorf("%s: %v, want %d bounce(s) besides the good value", c.name, got, c.fails)
			continue
		}
		if f := fails[0]; !strings.HasPrefix(f, "FAIL 5.1.3 ") || !strings.Contains(f, c.line) || !strings.Contains(f, c.text) {
			t.Errorf("%s: bounce %q does not name %s and %q", c.name, f, c.line, c.text)
		}
		e.wantWarning(c.line)
		var trace []string
		e.f.Explain(c.name, nil, func(_ int, msg string) { trace = append(trace, msg) })
		if s := strings.Join(trace, "\n"); !strings.Contains(s, "warning: ") || !strings.Contains(s, c.line) {
			t.Errorf("%s: resolve shows no warning with %s:\n%s", c.name, c.line, s)
		}
	}
}

// In ~/.forward a value that cannot be read keeps a copy in the local
// store, with a warning naming file:line, as an unusable .forward does
// (sendmail, Postfix); the other values are delivered too. The same
// when every value is bad.
func TestUnparsableForwardValueKeepsCopy(t *testing.T) {
	e := newEnv(t, "")
	e.user(".forward", "friend@example.com, foo bar@example.net\n", 0o600)
	check(t, "alice", e.resolve("alice"), "friend@example.com", `\alice`)
	e.wantWarning(".forward:1")
	e.wantWarning("foo bar@example.net")

	e = newEnv(t, "")
	e.user(".forward", "<broken@example.net\n", 0o600)
	check(t, "alice", e.resolve("alice"), `\alice`)
	e.wantWarning(".forward:1")
}
