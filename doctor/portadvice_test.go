package doctor

import (
	"os"
	"strings"
	"testing"
)

// A port another program held when the agent started is opened by the
// running agent once it reads its configuration again (SIGHUP): the
// advice says so, where it said to restart the agent.
func TestOwnPortAdviceNamesSIGHUP(t *testing.T) {
	pid := os.Getpid()
	got := ownPortAdvice(pid, true)
	if !strings.Contains(got, "kill -HUP ") || strings.Contains(got, "restart") {
		t.Errorf("advice: %s", got)
	}
}
