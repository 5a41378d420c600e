package agent

import "os"

// writeNote replaces the file p with data through the temporary file tmp
// beside it, which is removed whatever fails: a full disk left one empty
// temporary file per attempt, never cleared once space came back. A note
// is what the running agent tells other commands (agent.status,
// agent.sending, agent.queued, outbox.moving), not mail: it is not
// synced, and a crash leaves the last one whole, or none.
func writeNote(p, tmp string, data []byte) error {
	err := os.WriteFile(tmp, data, 0o600)
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
