package smtpd_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A message line of 50 MB in DATA is taken (250) and delivered byte for
// byte, as sendmail takes it, and the agent does not hold the line in
// memory: its peak resident size stays far below the line's.
func TestLongLineInData(t *testing.T) {
	l := start(t)
	d := dial(t, "tcp", l.Addr)
	d.cmd("EHLO c", "250 ")
	d.cmd("MAIL FROM:<a@example.org>", "250 ")
	d.cmd("RCPT TO:<"+l.Rcpt+">", "250 ")
	d.cmd("DATA", "354 ")
	const n = 50 << 20
	line := bytes.Repeat([]byte("z"), n)
	fmt.Fprintf(d.c, "Subject: one long line\r\n\r\n")
	if _, err := d.c.Write(line); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(d.c, "\r\n.\r\n")
	d.expect("250 2.0.0 Ok: queued as ")
	d.cmd("NOOP", "250 ")
	d.cmd("QUIT", "221 ")
	l.WaitFor(func() bool { return len(mustGlob(t, l.Path("Maildir", "new", "*"))) == 1 }, "the message in ~/Maildir/new")
	stored, err := os.ReadFile(mustGlob(t, l.Path("Maildir", "new", "*"))[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(stored, append(append([]byte("\n\n"), line...), '\n')) {
		t.Errorf("the line was not delivered whole (%d bytes stored)", len(stored))
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", l.agent.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range strings.Split(string(status), "\n") {
		if f := strings.Fields(s); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			t.Logf("agent's peak resident size: %d kB", kb)
			if kb > 40<<10 {
				t.Errorf("the agent's peak resident size is %d kB for a line of %d MB: the line was held in memory", kb, n>>20)
			}
		}
	}
}

func mustGlob(t *testing.T, pat string) []string {
	t.Helper()
	m, err := filepath.Glob(pat)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
