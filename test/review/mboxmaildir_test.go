package review

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// store = "mbox:DIR" where DIR is a Maildir: delivery stores into it as a
// Maildir, and mail now reads it so (it refused it, "Is a directory",
// exit 74, while the mail was there); check warns of the setting rather
// than FAIL for a store that works.
func TestMboxStoreThatIsAMaildir(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	box := filepath.Join(e.Home, "md")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(box, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	setConfig(t, e, baseConfig+"store = \"mbox:"+box+"\"\n", 0o600)
	e.MustSend("Subject: store-is-maildir\n\nb\n", "root")
	e.Once()
	out, stderr, code := e.Run(nil, "mail", "-H")
	if code != 0 || !strings.Contains(out, "store-is-maildir") {
		t.Errorf("mail -H: exit %d: %s%s", code, out, stderr)
	}
	chk, _, _ := e.Run(nil, "homepost", "check")
	for _, l := range strings.Split(chk, "\n") {
		if strings.Contains(l, "store:") && !strings.HasPrefix(l, "warn") {
			t.Errorf("check: %s", l)
		}
	}
	if !strings.Contains(chk, "is a Maildir") {
		t.Errorf("check says nothing of the setting:\n%s", chk)
	}
}
