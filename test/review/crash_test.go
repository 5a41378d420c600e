package review

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A recipient expanded into several targets, the agent killed while a
// later target (a slow command) runs: at the retry the store's copy,
// already written, is not written again, the command runs again (it
// never finished), and the queue empties.
func TestKillDuringExpansion(t *testing.T) {
	e := newEnv(t, "")
	me := login(t)
	marker := e.path("started")
	script := e.path("slow.sh")
	os.WriteFile(script, []byte("#!/bin/sh\ncat >> "+e.path("cmd.out")+"\nif [ ! -e "+marker+" ]; then touch "+marker+"; sleep 30; fi\n"), 0o755)
	os.WriteFile(e.path(".config", "homepost", "aliases"), []byte("both: \\"+me+", \"|"+script+"\", "+e.path("box")+"/\n"), 0o600)
	e.mustSend("Subject: both\nMessage-ID: <both@test>\n\nbody\n", "both")
	c := e.cmd(nil, "homepost", "agent")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			c.Process.Kill()
			t.Fatal("the command never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Process.Kill()
	c.Wait()
	e.once()
	count := func(dir string) int {
		n := 0
		for _, sub := range []string{"new", "cur"} {
			n += len(files(e.path(dir, sub)))
		}
		return n
	}
	if n := count("Maildir"); n != 1 {
		t.Errorf("store holds %d copies, want 1", n)
	}
	if n := count("box"); n != 1 {
		t.Errorf("box holds %d copies, want 1", n)
	}
	out, _ := os.ReadFile(e.path("cmd.out"))
	if n := strings.Count(string(out), "Message-ID: <both@test>"); n < 1 {
		t.Errorf("the command got %d copies", n)
	}
	if q, _, _ := e.run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
}
