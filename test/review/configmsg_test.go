package review

import (
	"os"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// Every line that sendmail writes about a file with several errors
// carries its prefix: a log that keeps "homepost: sendmail:" lines (or
// a reader who greps for them) gets all the errors, not the first one.
func TestEveryErrorLinePrefixed(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	p := e.Path(".config", "homepost", "config.toml")
	good, _ := os.ReadFile(p)
	os.WriteFile(p, append(good, "stroe = 1\nhostnme = \"x\"\n"...), 0o600)
	for _, prog := range testenv.Sendmails {
		_, stderr, code := e.Run([]byte("Subject: s\n\nb\n"), prog, "root")
		if code != 0 || !strings.Contains(stderr, "stroe") || !strings.Contains(stderr, "hostnme") {
			t.Errorf("%s: exit %d\n%s", prog, code, stderr)
		}
		for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
			if !strings.HasPrefix(l, "homepost: sendmail: ") {
				t.Errorf("%s: a line without the prefix: %q\n%s", prog, l, stderr)
			}
		}
	}
	stopAgent(t, e)
}
