package agent

import (
	"os"
	"strings"
	"testing"
	"time"
)

// What homepost queue noted is logged once, one line per message, with
// when it was done when that is not now; a file left being taken by a
// crash is logged too; both files are gone afterwards, and a note with
// a line break or a tab stays on its line and in its field.
func TestLogQueueActions(t *testing.T) {
	ta := newTestAgent(t, "")
	if err := os.MkdirAll(ta.cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := actionsPath(ta.cfg)
	if err := os.WriteFile(p+".taking", []byte("1\tOLD1\tdeleted\t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := NoteQueueActions(ta.cfg, []QueueAction{
		{ID: "ID1", Status: "held"},
		{ID: "ID2", Status: "deleted", Note: "a copy being sent to h:25 may still arrive\nfake=1\tx"},
	}, ta.clock); err != nil {
		t.Fatal(err)
	}
	ta.logQueueActions()
	logs := ta.logs.String()
	for _, want := range []string{
		"msg=queue id=OLD1 status=deleted by=\"homepost queue\" at=" + time.Unix(1, 0).Format(time.RFC3339) + "\n",
		"msg=queue id=ID1 status=held by=\"homepost queue\"\n",
		"msg=queue id=ID2 status=deleted by=\"homepost queue\" reason=\"a copy being sent to h:25 may still arrive fake=1 x\"\n",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	for _, f := range []string{p, p + ".taking"} {
		if _, err := os.Lstat(f); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", f, err)
		}
	}
	ta.logs.Reset()
	ta.logQueueActions()
	if ta.logs.Len() != 0 {
		t.Errorf("logged twice:\n%s", ta.logs.String())
	}
}
