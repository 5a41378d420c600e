package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// The smarthost's url names the wrong TLS mode: smtp+starttls:// to a
// port that speaks TLS from the first byte (a listener that accepts and
// says nothing stands in for it), so the delivery waits the whole
// command timeout (5 minutes) for a greeting. Meanwhile mailq says what
// the messages wait for (the one being sent, and the one queued behind
// it), and lists only the recipients still waiting
// (the local copy of a message with a remote recipient is recorded when
// it is stored, not when the smarthost answers); fixing the url in
// config.toml ends the hung delivery at once, and the mail goes out
// with the new url, instead of 5 minutes later.
func TestFixedRelayURLEndsHungDelivery(t *testing.T) {
	t.Parallel()
	hung, conns := hungRelay(t)
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp+starttls://%s\"\n", hung))
	e.StartAgent()
	mailq := func() string {
		q, _, _ := e.Run(nil, "mailq")
		return q
	}
	e.MustSend("Subject: tls1\n\nb\n", "r1@remote.example")
	e.WaitFor(func() bool { return conns.Load() > 0 }, "the connection to the smarthost")
	e.WaitFor(func() bool { return strings.Contains(mailq(), "(being sent to "+hung+" since ") }, "mailq to say the message is being sent")

	e.MustSend("Subject: tls2\n\nb\n", "root", "r2@remote.example")
	e.WaitFor(func() bool { return len(testenv.Files(e.Path("Maildir", "new"))) == 1 }, "the local copy")
	e.WaitFor(func() bool {
		q := mailq()
		return strings.Contains(q, "(waiting for the delivery to "+hung+" in progress since ") &&
			strings.Contains(q, "r2@remote.example") && !listsRecipient(q, "root")
	}, "mailq to list only the recipient still waiting, and what it waits for")

	fixed := fmt.Sprintf("deliver_without_agent = false\nhostname = \"testhost.example\"\nsystem_aliases = \"\"\n[relay]\nurl = \"smtp://%s\"\n", h.Addr)
	if err := os.WriteFile(e.Path(".config", "homepost", "config.toml"), []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e.WaitFor(func() bool { return h.Count("r1@remote.example") == 1 && h.Count("r2@remote.example") == 1 }, "both messages to go out with the fixed url")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the mail went out %v after the fix", d.Round(time.Millisecond))
	}
	e.WaitFor(func() bool { return strings.Contains(mailq(), "Mail queue is empty") }, "an empty queue")
}

// listsRecipient reports whether mailq's output q lists addr as a
// recipient (an indented line of its own).
func listsRecipient(q, addr string) bool {
	for _, line := range strings.Split(q, "\n") {
		if strings.HasPrefix(line, " ") && strings.TrimSpace(line) == addr {
			return true
		}
	}
	return false
}

// homepost check --relay gives up on a smarthost that sends no greeting
// after a few seconds, not after the 5 minutes of command_timeout, and
// names the implicit-TLS url to try.
func TestCheckRelayGivesUpOnSilentServer(t *testing.T) {
	t.Parallel()
	hung, _ := hungRelay(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp+starttls://%s\"\n", hung))
	c := e.Cmd(nil, "homepost", "check", "--relay")
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	start := time.Now()
	select {
	case err := <-done:
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatal(err)
		}
	case <-time.After(40 * time.Second):
		c.Process.Kill()
		<-done
		t.Fatalf("check --relay still runs after %v; it printed:\n%s", time.Since(start).Round(time.Second), out.String())
	}
	for _, want := range []string{"no greeting within 15s", "smtps://" + hung} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check --relay printed:\n%s\nwant it to say %q", out.String(), want)
		}
	}
}
