package tools

import (
	"io"
	"mime/quotedprintable"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func me(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

func cronEnv(t *testing.T) *env {
	e := newEnv(t)
	e.writeConfig("deliver_without_agent = false\nsystem_aliases = \"\"\nhostname = \"cronhost.example\"\n")
	return e
}

func TestCronSilentSuccess(t *testing.T) {
	e := cronEnv(t)
	for _, args := range [][]string{{"true"}, {"--", "sh", "-c", "exit 0"}} {
		out, errOut, code := e.run("", append([]string{"cron"}, args...)...)
		if code != 0 || out != "" || errOut != "" {
			t.Errorf("cron %v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	if q := e.queue(); len(q) != 0 {
		t.Errorf("silent success queued %d messages", len(q))
	}
}

// oneMail asserts exactly one queued message and returns it.
func oneMail(t *testing.T, e *env) queued {
	t.Helper()
	q := e.queue()
	if len(q) != 1 {
		t.Fatalf("%d messages queued, want 1", len(q))
	}
	return q[0]
}

func TestCronOutputOnSuccess(t *testing.T) {
	e := cronEnv(t)
	// stdout and stderr interleaved: the mail keeps their order.
	script := `for i in 1 2 3; do echo out$i; echo err$i >&2; done`
	_, errOut, code := e.run("", "cron", "sh", "-c", script)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	m := oneMail(t, e)
	want := "out1\nerr1\nout2\nerr2\nout3\nerr3\n"
	if !strings.HasSuffix(m.body, want) {
		t.Errorf("body does not end with the merged output %q:\n%s", want, m.body)
	}
	subj := m.subject()
	for _, s := range []string{"cronhost.example", "sh -c", "exit 0", " after "} {
		if !strings.Contains(subj, s) {
			t.Errorf("subject %q lacks %q", subj, s)
		}
	}
	if got := m.rcpts(); !slices.Equal(got, []string{me(t)}) {
		t.Errorf("recipients %v, want the user", got)
	}
	if m.msg.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("no Auto-Submitted: auto-generated")
	}
	if m.msg.Header.Get("From") == "" || m.msg.Header.Get("Message-ID") == "" || m.msg.Header.Get("Date") == "" {
		t.Errorf("header not completed:\n%s", m.raw)
	}
}

func TestCronFailure(t *testing.T) {
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		inSubj string
		inBody string
	}{
		{"silent failure", []string{"sh", "-c", "exit 3"}, 3, "exit 3", "Status:    exit 3"},
		{"failure with output", []string{"--", "sh", "-c", "echo disk full >&2; exit 1"}, 1, "exit 1", "disk full"},
		{"signal", []string{"sh", "-c", "kill -TERM $$"}, 143, "signal 15", "killed by signal 15"},
		{"not found", []string{"/nonexistent/job"}, 127, "exit 127", "/nonexistent/job"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := cronEnv(t)
			_, _, code := e.run("", append([]string{"cron"}, c.args...)...)
			if code != c.code {
				t.Errorf("exit %d, want the job's %d", code, c.code)
			}
			m := oneMail(t, e)
			if !strings.Contains(m.subject(), c.inSubj) {
				t.Errorf("subject %q lacks %q", m.subject(), c.inSubj)
			}
			if !strings.Contains(m.body, c.inBody) {
				t.Errorf("body lacks %q:\n%s", c.inBody, m.body)
			}
		})
	}
}

func TestCronMailto(t *testing.T) {
	e := cronEnv(t)
	e.extra = []string{"MAILTO=ops@example.org"}
	e.run("", "cron", "echo", "hi")
	if got := oneMail(t, e).rcpts(); !slices.Equal(got, []string{"ops@example.org"}) {
		t.Errorf("recipients %v, want $MAILTO", got)
	}
}

// Output that is not text (NUL bytes, bad UTF-8, a very long line) is
// sent quoted-printable and decodes back to the same bytes.
func TestCronBinaryOutput(t *testing.T) {
	e := cronEnv(t)
	dir := t.TempDir()
	// A CR before LF is a line ending (normalised, as everywhere); a lone
	// CR (a progress bar) is kept.
	data := []byte("ok line\n\x00\xff\xfe bytes\n10%\r100%\n" + strings.Repeat("x", 3000) + "\nend\n")
	src := filepath.Join(dir, "data")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e.run("", "cron", "cat", src)
	m := oneMail(t, e)
	if cte := m.msg.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding %q", cte)
	}
	for _, l := range strings.Split(m.raw, "\n") {
		if len(l) > 998 {
			t.Fatalf("line of %d bytes in the message", len(l))
		}
	}
	dec, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(m.body)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(dec), string(data)) {
		t.Errorf("decoded body does not end with the output:\n%q", dec)
	}
}

func TestCronHugeOutput(t *testing.T) {
	e := cronEnv(t)
	e.run("", "cron", "sh", "-c", "yes homepost | head -c 6000000")
	m := oneMail(t, e)
	if len(m.raw) > 5<<20 {
		t.Errorf("message is %d bytes: output not bounded", len(m.raw))
	}
	if !strings.Contains(m.body, "of 6000000 bytes") {
		t.Errorf("body does not say the output was cut:\n%.400s", m.body)
	}
}

// A broken config does not cost the job's output: the job runs, the
// error is named (file:line) on stderr, and the report is queued, to be
// delivered once the file is fixed.
func TestCronBadConfig(t *testing.T) {
	e := cronEnv(t)
	e.writeConfig("deliver_without_agent = false\nbogus_key = 1\n")
	marker := filepath.Join(e.home, "ran")
	_, errOut, code := e.run("", "cron", "sh", "-c", "touch "+marker+"; echo output; exit 3")
	if code != 3 {
		t.Errorf("exit %d, want the job's 3", code)
	}
	if !strings.Contains(errOut, "config.toml:2") {
		t.Errorf("stderr %q does not name config.toml:2", errOut)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Error("the job did not run")
	}
	if m := oneMail(t, e); !strings.Contains(m.body, "output") {
		t.Errorf("the report does not carry the output:\n%s", m.body)
	}
}

func TestCronUsage(t *testing.T) {
	e := cronEnv(t)
	if _, _, code := e.run("", "cron"); code != 64 {
		t.Errorf("no command: exit %d, want 64", code)
	}
	if _, _, code := e.run("", "cron", "-x"); code != 64 {
		t.Errorf("unknown option: exit %d, want 64", code)
	}
	if out, _, code := e.run("", "cron", "--help"); code != 0 || !strings.Contains(out, "usage: homepost cron") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
}
