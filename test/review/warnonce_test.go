package review

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"homepost/test/testenv"
)

// A config.toml that does not tell where the outbox is makes sendmail,
// mail, cron and mailq warn once per error, with what it means for the
// mail on the same line ("..., so the outbox is unknown: mail is queued
// in the default outbox"), not once alone and then again with the
// consequence. The file's other errors are still each said once.
func TestUnknownOutboxWarnedOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		fifo       bool
		errs       []string // each said exactly once, on the line below which the mail's fate follows
		also       []string // other errors, each said exactly once
	}{
		{name: "relative outbox", text: baseConfig + "outbox = \"q\"\n", errs: []string{":4: outbox: \"q\" is not an absolute path"}},
		{name: "not a string", text: "outbox = 3\n" + baseConfig, errs: []string{":1: outbox: "}},
		{name: "set twice", text: baseConfig + "outbox = \"/x\"\noutbox = \"/y\"\n", errs: []string{":5: outbox: set twice"}},
		{name: "two errors", text: baseConfig + "stroe = 1\noutbox = \"q\"\n", errs: []string{":5: outbox: \"q\" is not an absolute path"}, also: []string{":4: stroe: unknown key"}},
		{name: "fifo", fifo: true, errs: []string{": the file is a FIFO"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := testenv.New(t, "")
			file := e.Path(".config", "homepost", "config.toml")
			if tc.fifo {
				os.Remove(file)
				if err := syscall.Mkfifo(file, 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				setConfig(t, e, tc.text, 0o600)
			}
			for _, run := range []struct {
				name  string
				stdin string
				args  []string
				fate  string
			}{
				{"sendmail", "Subject: s\n\nb\n", []string{"root"}, "mail is queued in the default outbox"},
				{"sendmail.homepost", "Subject: s\n\nb\n", []string{"root"}, "mail is queued in the default outbox"},
				{"mail", "b\n", []string{"-s", "m", "root"}, "mail is queued in the default outbox"},
				{"homepost", "", []string{"cron", "--", "echo", "hi"}, "mail is queued in the default outbox"},
				{"mailq", "", nil, "the default outbox"},
			} {
				var stdin []byte
				if run.stdin != "" {
					stdin = []byte(run.stdin)
				}
				_, stderr, code := e.Run(stdin, run.name, run.args...)
				if code != 0 {
					t.Errorf("%s: exit %d:\n%s", run.name, code, stderr)
					continue
				}
				for _, want := range tc.errs {
					want = file + want
					if n := strings.Count(stderr, want); n != 1 {
						t.Errorf("%s says %q %d times, want once:\n%s", run.name, want, n, stderr)
						continue
					}
					_, after, _ := strings.Cut(stderr, want)
					if line, _, _ := strings.Cut(after, "\n"); !strings.Contains(line, "so the outbox is unknown: "+run.fate) {
						t.Errorf("%s: %q is not followed on its line by what it means for the mail:\n%s", run.name, want, stderr)
					}
				}
				for _, want := range tc.also {
					if n := strings.Count(stderr, file+want); n != 1 {
						t.Errorf("%s says %q %d times, want once:\n%s", run.name, want, n, stderr)
					}
				}
			}
			if n := len(testenv.Files(e.Outbox("new"))); n != 4 {
				t.Errorf("the default outbox holds %d messages, want 4", n)
			}
		})
	}
}
