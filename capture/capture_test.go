package capture

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestLimitWriter(t *testing.T) {
	var b bytes.Buffer
	w := &LimitWriter{W: &b, N: 5}
	for _, s := range []string{"abc", "defg", "hij"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if b.String() != "abcde" {
		t.Errorf("kept %q, want abcde", b.String())
	}
}

// Run merges stdout and stderr in the order written, keeps at most max
// bytes but counts them all, and reports the status as a shell does.
func TestRun(t *testing.T) {
	j, err := Run([]string{"sh", "-c", "echo out; echo err >&2; printf 0123456789; exit 3"}, 12)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Output.Seek(0, io.SeekStart)
	out, _ := io.ReadAll(j.Output)
	if string(out) != "out\nerr\n0123" || j.Size != 18 || j.Kept != 12 {
		t.Errorf("output %q, size %d, kept %d", out, j.Size, j.Kept)
	}
	if j.Status != 3 || j.How != "exit 3" || j.Silent() {
		t.Errorf("status %d, how %q", j.Status, j.How)
	}

	j, err = Run([]string{"sh", "-c", "kill -9 $$"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if j.Status != 137 || !strings.Contains(j.How, "killed by signal 9") {
		t.Errorf("killed job: status %d, how %q", j.Status, j.How)
	}

	j, err = Run([]string{"no-such-command-anywhere"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if j.Status != 127 || j.StartErr == nil || j.How != "exit 127, cannot run" {
		t.Errorf("missing command: status %d, how %q, %v", j.Status, j.How, j.StartErr)
	}

	j, err = Run([]string{"true"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if !j.Silent() {
		t.Errorf("true is not silent: %+v", j)
	}
}

func TestOutput(t *testing.T) {
	out, err := Output([]string{"sh", "-c", "echo failed; exit 3"}, 5*time.Second, 100)
	if err != nil || string(out) != "failed\n" {
		t.Errorf("Output = %q, %v; a non-zero exit with output is no error", out, err)
	}
	if _, err := Output([]string{"sh", "-c", "exit 3"}, 5*time.Second, 100); err == nil || !strings.Contains(err.Error(), "exited 3 and printed nothing") {
		t.Errorf("silent failure: %v", err)
	}
	if _, err := Output([]string{"no-such-command-anywhere"}, 5*time.Second, 100); err == nil || !strings.Contains(err.Error(), "not available") {
		t.Errorf("missing program: %v", err)
	}
	start := time.Now()
	if _, err := Output([]string{"sleep", "10"}, 200*time.Millisecond, 100); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("hung program: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("timeout not kept")
	}
	// A hung grandchild that holds the output (a pager, journalctl's
	// helpers) does not hold the caller past the timeout either.
	start = time.Now()
	if _, err := Output([]string{"sh", "-c", "sleep 10 & sleep 10"}, 200*time.Millisecond, 100); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("hung grandchild: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a grandchild holding the output kept Output for %v", d)
	}
	start = time.Now()
	if out, err := Output([]string{"sh", "-c", "sleep 10 & echo done"}, 5*time.Second, 100); err != nil || string(out) != "done\n" || time.Since(start) > 4*time.Second {
		t.Errorf("a program that leaves a child holding its output: %q, %v after %v", out, err, time.Since(start))
	}
	out, _ = Output([]string{"sh", "-c", "yes | head -c 100000"}, 5*time.Second, 10)
	if len(out) != 10 {
		t.Errorf("kept %d bytes, want 10", len(out))
	}
}
