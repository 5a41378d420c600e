package e2e

import (
	"os"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// A record of an mbox rewrite set aside (".unapplied": a crash stopped
// mail's rewrite and another program changed the mbox since) is named
// by every program that locks the mbox. The agent says it in its own
// log, a key=value line with the record's path, as it says everything
// else, not as a bare line on stderr that a reader of its log would
// not take for one of its records.
func TestAgentLogsSetAsideRecord(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "store = \"mbox:~/mail/inbox\"\n")
	e.MustSend("Subject: one\n\nfirst\n", "root")
	e.Once()
	aside := e.Path("mail", ".inbox.homepost-rewrite.5.20261203T101500.unapplied")
	if err := os.WriteFile(aside, []byte("the new contents of a rewrite\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.MustSend("Subject: two\n\nsecond\n", "root")
	stderr := e.Once()
	var line string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, aside) {
			if line != "" {
				t.Errorf("named twice:\n%s", stderr)
			}
			line = l
		}
	}
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "record="+aside) ||
		!strings.Contains(line, "compare it with the mailbox, then remove it") || strings.HasPrefix(line, "homepost: ") {
		t.Errorf("the agent's warning of %s is no line of its log:\n%s", aside, stderr)
	}
}
