package review

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// Behind a smarthost that takes a message's data and does not answer,
// a queue of more remote mail than the agent has file descriptors for
// (1,100 messages; the agent started with ulimit -n 1000) neither runs
// the agent out of them nor holds up local mail: a message to the user
// is stored at once, and mailq lists every remote message being sent or
// waiting behind that delivery. Each batch out held its queue files
// open, and the agent ran out at a thousand: its Maildir could not be
// opened, and local mail waited for the smarthost's timeout. Once the
// smarthost answers, each message goes out once.
func TestRemoteBacklogUnderFileLimit(t *testing.T) {
	t.Parallel()
	h := startGateHost(t, true)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ndata_timeout = \"5m\"\n", h.l.Addr()))
	const n = 1100
	for i := range n {
		e.MustSend(fmt.Sprintf("Subject: m%d\n\nx\n", i), fmt.Sprintf("r%d@remote.example", i))
	}
	c := exec.Command("/bin/sh", "-c", `ulimit -n 1000 && exec "$0" agent`, filepath.Join(e.Bin, "homepost"))
	c.Env, c.Dir = e.Vars, "/"
	log := &testenv.LockedBuffer{}
	c.Stderr = log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
		if t.Failed() {
			t.Logf("agent log (%d bytes), its end:\n%s", len(log.String()), tail(log.String(), 4000))
		}
	})
	e.WaitFor(func() bool {
		out, _, _ := e.Run(nil, "mailq")
		return strings.Count(out, "(being sent to ")+strings.Count(out, "(waiting for the delivery to ") == n
	}, "every remote message being sent or waiting behind that delivery in mailq")
	start := time.Now()
	e.MustSend("Subject: local\n\nx\n", testenv.Login(t))
	e.WaitFor(func() bool { return len(testenv.Files(e.Path("Maildir", "new"))) == 1 }, "the local message stored")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the local message took %v to be stored behind the smarthost", took)
	}
	if b, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.Process.Pid)); err == nil && len(b) > 900 {
		t.Errorf("the agent holds %d file descriptors", len(b))
	}
	h.open()
	deadline := time.Now().Add(60 * time.Second)
	for {
		done := 0
		for i := range n {
			if h.count(h.taken, fmt.Sprintf("r%d@remote.example", i)) > 0 {
				done++
			}
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages taken by the smarthost after a minute", done, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := range n {
		if k := h.count(h.taken, fmt.Sprintf("r%d@remote.example", i)); k != 1 {
			t.Errorf("r%d: taken %d times", i, k)
		}
	}
	if strings.Contains(log.String(), "too many open files") {
		t.Errorf("the agent ran out of file descriptors")
	}
}

// tail is the end of s, at most n bytes.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
