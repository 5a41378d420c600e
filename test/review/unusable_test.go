package review

import (
	"os"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// An outbox or state_dir that names a regular file (outbox = "~/mail",
// the user's mbox), or a path under one, is a configuration error of
// that key, as other unusable outbox values are: sendmail, mail and
// homepost cron queue in the default outbox, warn where the mail waits
// and why, and exit 0; check FAILs the key with file:line; the file
// itself is not touched.
func TestOutboxIsAFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, line, key, bad string }{
		{"outbox file", "outbox = \"~/mail\"", "outbox", "mail is a regular file, not a directory"},
		{"state_dir file", "state_dir = \"~/mail\"", "state_dir", "mail is a regular file, not a directory"},
		{"outbox under a file", "outbox = \"~/mail/q\"", "outbox", "mail, on the way to"},
		// access(2) grants root every directory: /proc is refused
		// by its file system, for root as for anyone.
		{"outbox in /proc", "outbox = \"/proc/q\"", "outbox", "/proc/q cannot be made: /proc "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := testenv.New(t, "")
			mbox := "From x Thu Dec  3 10:00:00 2026\nSubject: old\n\nold\n"
			if err := os.WriteFile(e.Path("mail"), []byte(mbox), 0o600); err != nil {
				t.Fatal(err)
			}
			p := e.Path(".config", "homepost", "config.toml")
			good, _ := os.ReadFile(p)
			if err := os.WriteFile(p, []byte(tc.line+"\n"+string(good)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := e.Run([]byte("Subject: t\n\nx\n"), "sendmail", "root")
			if code != 0 || !strings.Contains(stderr, p+":1: "+tc.key+": ") || !strings.Contains(stderr, tc.bad) ||
				!strings.Contains(stderr, "queued in the default outbox") || len(testenv.Files(e.Outbox("new"))) != 1 {
				t.Errorf("sendmail: exit %d\n%s", code, stderr)
			}
			if _, stderr, code := e.Run(nil, "homepost", "cron", "--", "echo", "hi"); code != 0 || len(testenv.Files(e.Outbox("new"))) != 2 {
				t.Errorf("cron: exit %d\n%s", code, stderr)
			}
			out, _, code := e.Run(nil, "homepost", "check")
			if code == 0 || !strings.Contains(out, "FAIL config: "+p+":1: "+tc.key+": ") || !strings.Contains(out, tc.bad) {
				t.Errorf("check: exit %d\n%s", code, out)
			}
			if b, _ := os.ReadFile(e.Path("mail")); string(b) != mbox {
				t.Errorf("the mbox was changed:\n%s", b)
			}
			stopBackground(t, e)
		})
	}
}
