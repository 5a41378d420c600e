package e2e

import (
	"fmt"
	"testing"
	"time"

	"homepost/test/testenv"
)

// Once the smarthost has answered a message's data with 250, the agent
// records it as sent without waiting for the reply to QUIT: a kill (an
// OOM, a power loss, a laptop's battery) while a lost QUIT reply is
// waited for (command_timeout, 5 minutes by default) must not make the
// next agent send the message again.
func TestKillWhileQuitUnansweredSendsOnce(t *testing.T) {
	t.Parallel()
	relay := testenv.StartQuietQuit(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ncommand_timeout = \"60s\"\n", relay.Addr))
	agent := e.StartAgent()
	e.MustSend("Subject: far\n\nb\n", "x@remote.example")
	e.WaitFor(func() bool { return relay.Took() == 1 }, "the smarthost's 250")
	// Recorded as sent, and the file retired, soon after the 250.
	deadline := time.Now().Add(5 * time.Second)
	for len(testenv.Files(e.Outbox("cur")))+len(testenv.Files(e.Outbox("new"))) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	agent.Process.Kill()
	agent.Wait()
	relay.Quiet.Store(false)
	e.Once()
	if n := relay.Took(); n != 1 {
		t.Errorf("the smarthost got the message %d times", n)
	}
}
