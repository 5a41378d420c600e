package review

import (
	"encoding/json"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// queued is one line of mailq --json, the fields these tests read.
type queued struct {
	QueueID    string `json:"queue_id"`
	Recipients []struct {
		Address     string `json:"address"`
		DelayReason string `json:"delay_reason"`
	} `json:"recipients"`
}

// mailqJSON runs mailq --json and decodes its lines.
func mailqJSON(t *testing.T, e *testenv.Env) []queued {
	t.Helper()
	out, stderr, code := e.Run(nil, "mailq", "--json")
	if code != 0 {
		t.Fatalf("mailq --json: exit %d: %s", code, stderr)
	}
	var msgs []queued
	for _, l := range strings.Split(out, "\n") {
		if l == "" {
			continue
		}
		var m queued
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("mailq --json: %v: %s", err, l)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// Mail held because config.toml has an error waits for a reason that
// mailq prints on standard output, where a monitoring script reads it,
// as Postfix prints a deferred message's: "(held: FILE:LINE: ...)" in
// the listing and delay_reason in --json, whether no agent runs or the
// running one holds the queue. Mail that "homepost queue hold" holds
// keeps its own state.
func TestMailqSaysWhyHeld(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	file := setConfig(t, e, baseConfig+"stroe = 1\n", 0o600)
	want := "held: " + file + ":4: stroe: unknown key"
	e.MustSend("Subject: one\n\nb\n", "root", "someone@example.org")
	look := func(when string) {
		t.Helper()
		q, _, _ := e.Run(nil, "mailq")
		// A reason longer than a line is wrapped (at spaces).
		if !strings.Contains(strings.Join(strings.Fields(q), " "), "("+strings.Join(strings.Fields(want), " ")+")") {
			t.Errorf("%s: mailq gives no reason %q:\n%s", when, want, q)
		}
		msgs := mailqJSON(t, e)
		if len(msgs) != 1 || len(msgs[0].Recipients) != 2 {
			t.Fatalf("%s: mailq --json: %+v", when, msgs)
		}
		for _, r := range msgs[0].Recipients {
			if r.DelayReason != want {
				t.Errorf("%s: mailq --json: %s: delay_reason %q, want %q", when, r.Address, r.DelayReason, want)
			}
		}
	}
	look("no agent")

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
	look("the agent holds the queue")

	// A message held by hand is not said to wait for the file.
	if _, stderr, code := e.Run(nil, "homepost", "queue", "hold", "ALL"); code != 0 {
		t.Fatalf("queue hold: exit %d: %s", code, stderr)
	}
	if q, _, _ := e.Run(nil, "mailq"); strings.Contains(q, "held: ") || !strings.Contains(q, "!") {
		t.Errorf("a message held by hand:\n%s", q)
	}
}
