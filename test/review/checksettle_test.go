package review

import (
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// homepost check run at once after config.toml is fixed, while the
// running agent lets the change settle (500 ms without a change) before
// it reads the file, waits for the agent to take it up, as flush does:
// it reported "holding the queue" with the error the file no longer
// had, and a second later all was fine.
func TestCheckRightAfterFix(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	file := setConfig(t, e, baseConfig+"stroe = 1\n", 0o600)
	c := e.Cmd(nil, "homepost", "agent")
	var log testenv.LockedBuffer
	c.Stderr = &log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	})
	e.WaitFor(func() bool { return strings.Contains(log.String(), file+":4: stroe: unknown key") }, "the agent to hold the queue")
	e.MustSend("Subject: held\n\nb\n", "root")
	if out, _, _ := e.Run(nil, "homepost", "check"); !strings.Contains(out, "FAIL agent: running (pid ") || !strings.Contains(out, "holding the queue") {
		t.Fatalf("check with the file broken:\n%s", out)
	}
	setConfig(t, e, baseConfig, 0o600)
	start := time.Now()
	out, _, _ := e.Run(nil, "homepost", "check")
	t.Logf("check took %v", time.Since(start))
	if strings.Contains(out, "stroe") || !strings.Contains(out, "ok   agent: running (pid ") || !strings.Contains(out, "took up the changed configuration file") {
		t.Errorf("check right after the fix:\n%s", out)
	}
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 1 }, "delivery once the file is fixed")
}
