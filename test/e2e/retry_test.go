package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/test/testenv"
)

// nextAttempts returns the next_attempt of every recipient in mailq --json.
func nextAttempts(t *testing.T, e *testenv.Env) []int64 {
	t.Helper()
	out, _, _ := e.Run(nil, "mailq", "--json")
	var next []int64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m struct {
			Recipients []struct {
				NextAttempt int64 `json:"next_attempt"`
			} `json:"recipients"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("mailq --json: %v\n%s", err, out)
		}
		for _, r := range m.Recipients {
			next = append(next, r.NextAttempt)
		}
	}
	return next
}

// Flushes retry at once without pushing the automatic retries out: the
// wait depends on the time in the queue (Postfix's minimal and maximal
// backoff), not on the number of tries. Counted per try, five flushes
// in a minute put the next retry an hour away.
func TestFlushesDoNotPushRetriesOut(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	h.Set("x@remote.example", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"})
	e.StartAgent()
	e.MustSend("Subject: s\n\nb\n", "x@remote.example")
	e.WaitFor(func() bool { n := nextAttempts(t, e); return len(n) == 1 && n[0] > 0 }, "the deferral")
	for range 5 {
		if _, stderr, code := e.Run(nil, "homepost", "flush"); code != 0 {
			t.Fatalf("flush: %d %s", code, stderr)
		}
	}
	n := nextAttempts(t, e)
	if len(n) != 1 {
		t.Fatalf("next attempts %v", n)
	}
	if wait := time.Until(time.Unix(n[0], 0)); wait > 2*time.Minute {
		t.Errorf("after five flushes the next retry is %v away, want about a minute", wait.Round(time.Second))
	}
}

// Fixing the relay in the configuration while the agent runs retries
// the deferred remote mail at once, not after its backoff.
func TestRelayChangeRetriesDeferred(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", dead))
	e.StartAgent()
	e.MustSend("Subject: s\n\nb\n", "x@remote.example")
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(q, "refused")
	}, "the deferral")
	cfg := e.Path(".config", "homepost", "config.toml")
	b, _ := os.ReadFile(cfg)
	tmp := cfg + ".new"
	os.WriteFile(tmp, []byte(strings.Replace(string(b), dead, h.Addr, 1)), 0o600)
	os.Rename(tmp, cfg)
	start := time.Now()
	e.WaitFor(func() bool { return h.Count("x@remote.example") == 1 }, "delivery after the relay was fixed")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}
