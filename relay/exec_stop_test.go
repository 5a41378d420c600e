package relay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/courier"
	"homepost/outbox"
)

// An exec: program cut off because the delivery was stopped (the agent
// stops, a reload replaces [relay]) is deferred saying so: "did not
// finish within data_timeout" is false, and sends the user to raise a
// timeout that played no part.
func TestExecStoppedReason(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "slow")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\ncat >/dev/null\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "exec:"+prog)
	c := newClient(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	res := c.Send(ctx, []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopped delivery took %v", d)
	}
	r := res[0][0]
	if r.Status != outbox.Deferred {
		t.Fatalf("status %s", r.Text())
	}
	if strings.Contains(r.Reason, "did not finish within") || !strings.Contains(r.Reason, "stopped") {
		t.Errorf("reason for a stopped delivery: %s", r.Text())
	}
}

// A stopped delivery ends the whole program, not only the process it
// started: a wrapper script's child (the real sendmail) that went on
// would hand over a message recorded as deferred, which the next try
// sends again. As the agent runs, without a terminal (killed as a
// process group), and at a terminal (homepost agent or flush typed at a
// shell), where the group is homepost's own and the program is killed
// with the processes that descend from it.
func TestExecStoppedKillsTheWholeProgram(t *testing.T) {
	for _, atTTY := range []bool{false, true} {
		t.Run(fmt.Sprintf("terminal=%v", atTTY), func(t *testing.T) {
			defer func(f func() bool) { foregroundTTY = f }(foregroundTTY)
			foregroundTTY = func() bool { return atTTY }
			dir := t.TempDir()
			inner := filepath.Join(dir, "inner")
			log := filepath.Join(dir, "log")
			if err := os.WriteFile(inner, []byte("#!/bin/sh\ncat >/dev/null\nsleep 2\necho handed over >>"+log+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			wrapper := filepath.Join(dir, "wrapper")
			if err := os.WriteFile(wrapper, []byte("#!/bin/sh\n"+inner+" \"$@\"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			c := newClient(t, testConfig(t, "exec:"+wrapper))
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			res := c.Send(ctx, []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
			if r := res[0][0]; r.Status != outbox.Deferred {
				t.Fatalf("status %s", r.Text())
			}
			time.Sleep(3 * time.Second)
			if b, err := os.ReadFile(log); err == nil {
				t.Errorf("the wrapper's child went on after the delivery was stopped and deferred: %q", b)
			}
		})
	}
}

// At a terminal (homepost agent or flush typed at a shell) the program
// shares homepost's process group, the terminal's foreground, so that it
// can ask there; a ^C typed there is homepost's alone, which stops the
// delivery by its own rules. The program, killed by the SIGINT after it
// had read the message whole, had it deferred: sent twice.
func TestExecAtTerminalIgnoresInterrupt(t *testing.T) {
	defer func(f func() bool) { foregroundTTY = f }(foregroundTTY)
	foregroundTTY = func() bool { return true }
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	prog := filepath.Join(dir, "relay")
	// The program and the child it waits for each say their pid.
	body := "#!/bin/sh\necho $$ >>" + pids + "\ncat >/dev/null\nsh -c 'echo $$ >>" + pids + "; sleep 1'\nexit 0\n"
	if err := os.WriteFile(prog, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, testConfig(t, "exec:"+prog))
	go func() {
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			b, _ := os.ReadFile(pids)
			if f := strings.Fields(string(b)); len(f) == 2 {
				for _, p := range f {
					pid, _ := strconv.Atoi(p)
					syscall.Kill(pid, syscall.SIGINT) // as a ^C does
				}
				return
			}
		}
	}()
	res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
	if r := res[0][0]; r.Status != outbox.Sent {
		t.Errorf("a ^C at the terminal ended the program: %s", r.Text())
	}
}

// At a terminal a program that cannot be run is said so, as elsewhere,
// not as the failure of the shell that starts it.
func TestExecAtTerminalMissingProgram(t *testing.T) {
	defer func(f func() bool) { foregroundTTY = f }(foregroundTTY)
	foregroundTTY = func() bool { return true }
	prog := filepath.Join(t.TempDir(), "missing")
	c := newClient(t, testConfig(t, "exec:"+prog))
	res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org")})
	if r := res[0][0]; r.Status != outbox.Deferred || !strings.Contains(r.Reason, "cannot run "+prog) {
		t.Errorf("result %s", r.Text())
	}
}
