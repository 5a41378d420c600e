package agent

import (
	"errors"
	"os"
	"syscall"
)

// writeNote replaces the file p with data through the temporary file tmp
// beside it, which is removed whatever fails: a full disk left one empty
// temporary file per attempt, never cleared once space came back. A note
// is what the running agent tells other commands (agent.status,
// agent.sending, agent.queued, outbox.moving), not mail: it is not
// synced, and a crash leaves the last one whole, or none.
//
// On a full file system, where no new file can take the data, the note
// is written over the old one in place, in the blocks it holds: a
// command waiting for the agent's answer in agent.status (flush) waited
// for as long as the disk stayed full. A reader may then see the note
// half written, as it may see it not yet replaced: both are read again.
func writeNote(p, tmp string, data []byte) error {
	err := os.WriteFile(tmp, data, 0o600)
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			if inPlace(p, data) == nil {
				return nil
			}
		}
	}
	return err
}

// inPlace writes data over the start of the existing file p and cuts it
// to that length.
func inPlace(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Truncate(int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
