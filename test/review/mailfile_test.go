package review

import (
	"os"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// mail -f FILE reads a mailbox it is given, which needs nothing of
// config.toml: an error in the file (a typo in a key) is a warning, as
// for sendmail, and the mailbox is read. mail without -f reads the store
// the file names, which an error leaves unknown: it still refuses (78).
func TestMailFileDespiteConfigError(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	file := setConfig(t, e, baseConfig+"stroe = 1\n", 0o600)
	where := file + ":4: stroe: unknown key"
	mb := e.Path("somembox")
	if err := os.WriteFile(mb, []byte("From x@example.org Thu Dec  3 10:00:00 2026\nFrom: x@example.org\nSubject: kept-here\n\nold\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := e.Run(nil, "mail", "-H", "-f", mb)
	if code != 0 || !strings.Contains(out, "kept-here") || !strings.Contains(stderr, "warning: "+where) {
		t.Errorf("mail -H -f %s: exit %d, want 0, the message listed and a warning naming %s\n%s\n%s", mb, code, where, out, stderr)
	}
	out, stderr, code = e.Run([]byte("q\n"), "mail", "-f", mb)
	if code != 0 || !strings.Contains(out, "kept-here") || !strings.Contains(stderr, where) {
		t.Errorf("mail -f %s: exit %d\n%s\n%s", mb, code, out, stderr)
	}
	if _, stderr, code := e.Run([]byte("q\n"), "mail"); code != 78 || !strings.Contains(stderr, where) {
		t.Errorf("mail (the store): exit %d, want 78 and %s\n%s", code, where, stderr)
	}
}
