package review

import (
	"strings"
	"testing"

	"homepost/test/testenv"
)

// "--" ends the options of homepost resolve and sendmail -bv, as
// getopt's programs take it: an address after it that begins with "-"
// is looked up (here it is no user: exit 67), not refused as an
// unknown option (exit 64). mailq and check, which take no operand,
// accept it too, and refuse an operand after it as one.
func TestResolveDoubleDash(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	for _, args := range [][]string{
		{"homepost", "resolve", "--", "-bbt", "root"},
		{"sendmail", "-bv", "--", "-bbt", "root"},
		{"sendmail.homepost", "-bv", "--", "-bbt", "root"},
	} {
		out, stderr, code := e.Run(nil, args[0], args[1:]...)
		if code != 67 || strings.Contains(stderr, "unknown option") || !strings.Contains(out, "-bbt:\n") || !strings.Contains(out, "root:\n") {
			t.Errorf("%s: exit %d, want 67 with -bbt and root looked up:\n%s%s", strings.Join(args, " "), code, out, stderr)
		}
	}
	// Before "--", an option that is not one is still refused.
	if _, stderr, code := e.Run(nil, "homepost", "resolve", "-bbt", "--", "root"); code != 64 || !strings.Contains(stderr, "unknown option -bbt") {
		t.Errorf("resolve -bbt -- root: exit %d: %s", code, stderr)
	}
	if q, stderr, code := e.Run(nil, "mailq", "--"); code != 0 || q != "Mail queue is empty\n" {
		t.Errorf("mailq --: exit %d: %s%s", code, q, stderr)
	}
	for _, args := range [][]string{{"mailq", "--", "x"}, {"homepost", "check", "--", "--relay"}} {
		if _, stderr, code := e.Run(nil, args[0], args[1:]...); code != 64 || !strings.Contains(stderr, "unexpected argument "+args[len(args)-1]) {
			t.Errorf("%s: exit %d, want 64: %s", strings.Join(args, " "), code, stderr)
		}
	}
}
