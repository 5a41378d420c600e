package relay

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"homepost/courier"
	"homepost/outbox"
)

// A program that exits 0 has taken the message, even when a process it
// started in the background (a queue runner, a wrapper's "cmd &") still
// holds its output when it exits: the delivery is sent. Deferred, the
// message was handed to the program again at every retry, for the five
// days of max_queue_lifetime, each time taken and each time deferred.
func TestExecLeftChildIsSent(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "bg")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\ncat >/dev/null\n(sleep 20) &\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, testConfig(t, "exec:"+prog))
	res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
	status(t, res[0], outbox.Sent)
}

// So is a password_command that prints the password and exits 0,
// leaving a process behind that holds its output (an agent it
// started): the password is used. Taken for a failure, it deferred
// every delivery for good.
func TestPasswordCommandLeftChild(t *testing.T) {
	ca := newTestCA(t)
	be := &backend{user: "alice", pass: "from the keyring"}
	addr := startServer(t, be, startTLSMode, ca)
	cfg := testConfig(t, "smtp+starttls://"+addr)
	cfg.Relay.CAFile = ca.file(t)
	cfg.Relay.Username = "alice"
	cfg.Relay.PasswordCommand = "echo 'from the keyring'; (sleep 20) &"
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Sent)
}
