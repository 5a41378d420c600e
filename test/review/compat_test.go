package review

import (
	"os"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// sendmail -I initialises the alias database, as -bi and newaliases do
// (sendmail(8), Postfix's sendmail(1)); old scripts and package hooks
// still call it.
func TestSendmailDashI(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte("root: me\n"), 0o600)
	out, stderr, code := e.Run(nil, "sendmail", "-I")
	if code != 0 || !strings.Contains(out, "1 aliases") {
		t.Errorf("sendmail -I: exit %d, %s%s", code, out, stderr)
	}
}
