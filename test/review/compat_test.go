package review

import (
	"os"
	"strings"
	"testing"
)

// sendmail -I initialises the alias database, as -bi and newaliases do
// (sendmail(8), Postfix's sendmail(1)); old scripts and package hooks
// still call it.
func TestSendmailDashI(t *testing.T) {
	e := newEnv(t, "")
	os.WriteFile(e.path(".config", "homepost", "aliases"), []byte("root: me\n"), 0o600)
	out, stderr, code := e.run(nil, "sendmail", "-I")
	if code != 0 || !strings.Contains(out, "1 aliases") {
		t.Errorf("sendmail -I: exit %d, %s%s", code, out, stderr)
	}
}
