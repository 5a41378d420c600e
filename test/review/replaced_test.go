package review

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// copyProgram copies the file at src to dst by a temporary file renamed
// into place, as an upgrade (make install, a package manager) replaces
// a program that runs.
func copyProgram(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tmp := dst + ".new"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// An agent started by hand keeps running the program it started from
// after an upgrade replaced that file: homepost check says that it runs
// a replaced homepost and how to restart it (here, without a systemd
// unit: end it and start it again), rather than "ok agent: running". An
// agent that runs another homepost than the check's own is named too.
func TestCheckSaysAgentRunsReplacedProgram(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	bin := e.Path("bin", "homepost")
	os.MkdirAll(filepath.Dir(bin), 0o700)
	copyProgram(t, filepath.Join(e.Bin, "homepost"), bin)
	c := exec.Command(bin, "agent")
	c.Env, c.Dir = e.Vars, "/"
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
	e.WaitFor(func() bool { return strings.Contains(log.String(), "agent started") }, "agent start")
	check := func() string {
		t.Helper()
		cmd := exec.Command(bin, "check")
		cmd.Env, cmd.Dir = e.Vars, "/"
		out, _ := cmd.Output()
		return string(out)
	}
	running := fmt.Sprintf("ok   agent: running (pid %d)\n", c.Process.Pid)
	if out := check(); !strings.Contains(out, running) {
		t.Fatalf("check before the upgrade:\n%s", out)
	}
	// Another homepost than the agent's runs the check.
	if out, _, _ := e.Run(nil, "homepost", "check"); !strings.Contains(out, "warn agent: running (pid ") || !strings.Contains(out, "another homepost than this one") {
		t.Errorf("check by another homepost:\n%s", out)
	}

	copyProgram(t, filepath.Join(e.Bin, "homepost"), bin) // the upgrade
	out := check()
	want := fmt.Sprintf("warn agent: running a replaced homepost (pid %d", c.Process.Pid)
	if !strings.Contains(out, want) || !strings.Contains(out, "restart it") || !strings.Contains(out, fmt.Sprintf("kill %d", c.Process.Pid)) {
		t.Errorf("check after the upgrade, want %q:\n%s", want, out)
	}
}
