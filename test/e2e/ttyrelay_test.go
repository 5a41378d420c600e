package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"homepost/test/testenv"
)

// homepost flush typed at a terminal, with no agent running, delivers
// in the foreground: an exec: relay program that asks there (ssh for a
// passphrase or a host key, as "exec:ssh gateway sendmail -t" does) is
// answered, as before exec: programs got a process group of their own.
// In a group of its own, outside the terminal's foreground, its read of
// the terminal stopped it (SIGTTIN), and the message was deferred at
// data_timeout.
func TestFlushAtTerminalRelayProgramAsks(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to give flush a terminal")
	}
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "answer")
	prog := filepath.Join(dir, "ask")
	body := "#!/bin/sh\ncat >/dev/null\nprintf 'passphrase: ' >/dev/tty\nread pw </dev/tty\necho \"$pw\" >" + out + "\n"
	if err := os.WriteFile(prog, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	e := testenv.New(t, "[relay]\nurl = \"exec:"+prog+"\"\ndata_timeout = \"5s\"\n")
	e.MustSend("Subject: asks\n\nx\n", "bob@remote.example")
	cmd := exec.Command(script, "-qec", filepath.Join(e.Bin, "homepost")+" flush", "/dev/null")
	cmd.Env = e.Vars
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = pr
	said := &lockedText{}
	cmd.Stdout, cmd.Stderr = said, said
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	// Typed once the program asks.
	for end := time.Now().Add(10 * time.Second); !strings.Contains(said.String(), "passphrase:") && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	pw.WriteString("secret\r")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("flush did not end; it said:\n%s", said.String())
	}
	pw.Close()
	if b, _ := os.ReadFile(out); strings.TrimSpace(string(b)) != "secret" {
		t.Fatalf("the program did not get its answer from the terminal (%q); flush said:\n%s", b, said.String())
	}
	if q, _, _ := e.Run(nil, "mailq"); !strings.Contains(q, "empty") {
		t.Errorf("mailq after the flush:\n%s", q)
	}
}

// lockedText is what a program writes, read while it runs.
type lockedText struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedText) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedText) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
