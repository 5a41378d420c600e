package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The testdata streams are go test -json output of a small package:
// TestA passes with a log line, TestB skips with "SKIP: no tmux here",
// TestC fails in its subtest s1, TestD (parallel) prints to stdout and
// skips with a two-line message; in mixed.json a second package does not
// build. In timeout.json, TestHang sleeps past go test -timeout 2s.

func summarize(t *testing.T, file string, verbose bool) (string, bool, *Summary) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	s := NewSummary(&out, verbose)
	if err := s.Read(f); err != nil {
		t.Fatal(err)
	}
	failed := s.Report()
	return out.String(), failed, s
}

func TestFailures(t *testing.T) {
	out, failed, s := summarize(t, "mixed.json", false)
	if !failed {
		t.Error("a failed test and a failed build: Report says nothing failed")
	}
	for _, want := range []string{
		"q/q.go:2:12: undefined: undefined\n", // the build error
		"FAIL\tjt/q [build failed]\n",
		"    p_test.go:5: bad s1\n--- FAIL: TestC/s1 (0.00s)\n--- FAIL: TestC (0.00s)\n",
		"FAIL\tjt/p\t",
		"\nSkipped on this machine",
		"  jt/p: TestB: no tmux here\n",
		"  jt/p: TestD: multi line\n",
		"FAIL\n2 passed, 3 failed, 2 skipped\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"=== RUN", "p_test.go:3: hello", "stdout line", "TestC/s2"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("report shows %q without -v:\n%s", unwanted, out)
		}
	}
	if !strings.HasSuffix(out, "2 passed, 3 failed, 2 skipped\n") {
		t.Errorf("the counts are not the last line:\n%s", out)
	}
	// TestC, TestC/s1 and the package that does not build.
	if s.Passed != 2 || s.Failed != 3 || s.Skipped != 2 {
		t.Errorf("counts %d/%d/%d", s.Passed, s.Failed, s.Skipped)
	}
}

func TestPass(t *testing.T) {
	out, failed, _ := summarize(t, "pass.json", false)
	if failed {
		t.Errorf("a passing run reported as failed:\n%s", out)
	}
	want := "ok  \tjt/p\t0.007s\n\nSkipped on this machine (go test -v -run NAME ./PACKAGE shows more):\n" +
		"  jt/p: TestB: no tmux here\n  jt/p: TestD: multi line\n1 passed, 0 failed, 2 skipped\n"
	if out != want {
		t.Errorf("report:\n%s\nwant:\n%s", out, want)
	}
}

func TestVerbose(t *testing.T) {
	out, _, _ := summarize(t, "pass.json", true)
	for _, want := range []string{"=== RUN   TestA\n", "p_test.go:3: hello\n", "stdout line\n", "ok  \tjt/p\t"} {
		if !strings.Contains(out, want) {
			t.Errorf("-v report lacks %q:\n%s", want, out)
		}
	}
}

// A suite that skips as a whole is named as such.
func TestWholeSuiteSkipped(t *testing.T) {
	stream := ""
	for _, name := range []string{"TestOne", "TestTwo"} {
		stream += `{"Action":"run","Package":"x/postfix","Test":"` + name + `"}
{"Action":"output","Package":"x/postfix","Test":"` + name + `","Output":"    postfix_test.go:43: SKIP: no Postfix on 127.0.0.1:2525\n"}
{"Action":"skip","Package":"x/postfix","Test":"` + name + `"}
`
	}
	stream += `{"Action":"output","Package":"x/postfix","Output":"ok  \tx/postfix\t0.01s\n"}
{"Action":"pass","Package":"x/postfix"}
`
	var out bytes.Buffer
	s := NewSummary(&out, false)
	s.Read(strings.NewReader(stream))
	if s.Report() {
		t.Error("failed")
	}
	if want := "  x/postfix: all 2 tests: no Postfix on 127.0.0.1:2525\n0 passed, 0 failed, 2 skipped\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("report:\n%s\nwant it to end:\n%s", out.String(), want)
	}
}

// The slowest packages, from ten seconds on, are named, three at most.
func TestSlowest(t *testing.T) {
	stream := ""
	for i, secs := range []string{"3", "12.4", "40", "11", "10.2"} {
		p := fmt.Sprintf("x/p%d", i)
		stream += `{"Action":"output","Package":"` + p + `","Output":"ok  \t` + p + `\t` + secs + `s\n"}
{"Action":"pass","Package":"` + p + `","Elapsed":` + secs + `}
`
	}
	var out bytes.Buffer
	s := NewSummary(&out, false)
	s.Read(strings.NewReader(stream))
	s.Report()
	if want := "\nSlowest: x/p2 40s, x/p1 12s, x/p3 11s\n0 passed, 0 failed, 0 skipped\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("report:\n%s\nwant it to end:\n%s", out.String(), want)
	}
}

// A test that hangs until go test's timeout fails, with its output and
// the panic's trace shown.
func TestTimeout(t *testing.T) {
	out, failed, s := summarize(t, "timeout.json", false)
	if !failed || s.Failed != 1 || s.Passed != 1 {
		t.Errorf("failed %v, counts %d passed %d failed", failed, s.Passed, s.Failed)
	}
	for _, want := range []string{"r_test.go:4: before the hang\n", "panic: test timed out after 2s\n", "FAIL\tjt/r\t", "1 passed, 1 failed, 0 skipped\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// A package whose stream ends without its closing event (go test was
// killed) is a failure.
func TestCutOff(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "pass.json"))
	if err != nil {
		t.Fatal(err)
	}
	cut := data[:bytes.Index(data, []byte(`"Output":"PASS\n"`))]
	cut = cut[:bytes.LastIndexByte(cut, '\n')+1]
	var out bytes.Buffer
	s := NewSummary(&out, false)
	s.Read(bytes.NewReader(cut))
	if !s.Report() || s.Failed == 0 {
		t.Errorf("a cut-off stream passed:\n%s", out.String())
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("SUMMARY_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The exit status follows go test's and the tests': a run where go
// test exits non-zero fails even if every test event passed.
func TestExitStatus(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		script string
		code   int
	}{
		{"cat testdata/pass.json", 0},
		{"cat testdata/mixed.json; exit 1", 1},
		{"cat testdata/pass.json; exit 2", 1},
		{"echo 'go: cannot find main module' >&2; exit 1", 1},
	} {
		cmd := exec.Command(self, "--", "sh", "-c", c.script)
		cmd.Env = append(os.Environ(), "SUMMARY_MAIN=1")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code {
			t.Errorf("%s: exit %d, want %d:\n%s", c.script, code, c.code, out)
		}
		if !strings.Contains(string(out), " passed, ") {
			t.Errorf("%s: no counts:\n%s", c.script, out)
		}
	}

	// -json keeps the stream.
	keep := filepath.Join(t.TempDir(), "run.json")
	cmd := exec.Command(self, "-json", keep, "--", "cat", "testdata/pass.json")
	cmd.Env = append(os.Environ(), "SUMMARY_MAIN=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("-json: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(keep)
	want, _ := os.ReadFile(filepath.Join("testdata", "pass.json"))
	if !bytes.Equal(got, want) {
		t.Errorf("-json kept %d bytes of %d", len(got), len(want))
	}
}
