package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// The small sendmail program (cmd/sendmail) and homepost sendmail share
// one parser and one implementation of queueing; the small one hands
// every other mode, and a configuration only the full TOML parser reads,
// to homepost. Whatever a caller does, the two must answer alike byte
// for byte: the same standard output and error, the same exit status,
// and the same queue files, but for the queue ID and the time.
func TestSendmailsAlike(t *testing.T) {
	t.Parallel()
	plain := "From: a@example.org\nTo: root\nSubject: plain\n\nbody\n"
	type tc struct {
		name, config, stdin string
		args                []string
	}
	cases := []tc{
		{"plain", "", plain, []string{"-i", "root"}},
		{"verbose", "", plain, []string{"-v", "-oi", "root"}},
		{"extract-bcc", "", "To: a@example.org, root\nCc: Joe <joe@example.org>\nBcc: secret@example.org\nSubject: t\n\nb\n", []string{"-t", "-i"}},
		{"complete", "", "Subject: no from\n\nb\n", []string{"-F", "Full Name", "-f", "me@example.org", "root"}},
		{"null-sender", "", plain, []string{"-f", "<>", "root"}},
		{"dot-ends", "", "Subject: dot\n\nline\n.\nafter\n", []string{"root"}},
		{"crlf", "", "Subject: crlf\r\n\r\nline\r\n", []string{"-i", "root"}},
		{"mbox-from", "", "From someone Thu Jan  1 00:00:00 2026\nSubject: f\n\nb\n", []string{"-i", "root"}},
		{"flags", "", plain, []string{"-oem", "-odi", "-B8BITMIME", "-N", "never", "-R", "hdrs", "-V", "env1", "-C", "/dev/null",
			"-h", "10", "-L", "tag", "-X", "/dev/null", "-ti", "-r", "me@example.org", "--", "root,postmaster", "-dash"}},
		{"no-recipient", "", plain, nil},
		{"extract-none", "", "Subject: x\n\nb\n", []string{"-t"}},
		{"bad-sender", "", plain, []string{"-f", "a b c", "root"}},
		{"bad-recipient", "", plain, []string{"bad address@x"}},
		{"unknown-long", "", plain, []string{"--frobnicate", "root"}},
		{"unknown-cluster", "", plain, []string{"-tZ", "root"}},
		{"missing-value", "", plain, []string{"-f"}},
		{"bad-mode", "", plain, []string{"-bz"}},
		{"daemon-mode", "", plain, []string{"-bd"}},
		{"help", "", "", []string{"--help"}},
		{"mailq", "", "", []string{"-bp"}},
		{"newaliases", "", "", []string{"-bi"}},
		{"newaliases-I", "", "", []string{"-I"}},
		{"verify", "", "", []string{"-bv", "root", "someone@example.org"}},
		{"smtp", "", "HELO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root>\r\nDATA\r\nSubject: s\r\n\r\nb\r\n.\r\nQUIT\r\n", []string{"-bs"}},
		{"full-toml", "local_domains = [\"example.org\"]\n", plain, []string{"-i", "root"}},
		{"relay-table", "[relay]\nurl = \"smtp://127.0.0.1:25\"\n", plain, []string{"-i", "root"}},
		{"bad-config", "other_users = \"everyone\"\n", plain, []string{"-i", "root"}},
		{"unknown-key", "stroe = \"x\"\n", plain, []string{"-i", "root"}},
	}
	if dir := corpusDirIfAny(); dir != "" {
		ents, _ := os.ReadDir(dir)
		for _, ent := range ents {
			if strings.HasSuffix(ent.Name(), ".eml") && len(cases) < 60 {
				raw, err := os.ReadFile(filepath.Join(dir, ent.Name()))
				if err != nil {
					t.Fatal(err)
				}
				cases = append(cases, tc{"corpus-" + ent.Name(), "", string(raw), []string{"-t", "-i", "root"}})
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var outs []string
			for _, prog := range testenv.Sendmails {
				e := testenv.New(t, c.config)
				stdout, stderr, code := e.Run([]byte(c.stdin), prog, c.args...)
				out := "exit " + strconv.Itoa(code) + "\nstdout:\n" + stdout + "\nstderr:\n" + stderr + "\nqueue:\n"
				for _, f := range testenv.Files(e.Outbox("new")) {
					b, err := os.ReadFile(filepath.Join(e.Outbox("new"), f))
					if err != nil {
						t.Fatal(err)
					}
					out += "-- " + f + "\n" + string(b) + "\n"
				}
				outs = append(outs, sameTime(out, e.Home))
			}
			if strings.HasPrefix(c.name, "plain") && !strings.Contains(outs[0], "HOMEPOST 1\n") {
				t.Fatalf("nothing queued:\n%s", outs[0])
			}
			if outs[0] != outs[1] {
				t.Errorf("sendmail %q: the two programs differ:\n--- %s:\n%s\n--- %s:\n%s",
					c.args, testenv.Sendmails[0], outs[0], testenv.Sendmails[1], outs[1])
			}
		})
	}
}

var (
	queueName = regexp.MustCompile(`\b[0-9]{9,11}\.([0-9A-F]{13,}(Q[0-9A-F]+)?)\.`)
	rfc1123z  = regexp.MustCompile(`[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} [-+][0-9]{4}`)
	idName    = regexp.MustCompile(`\b[0-9]{9,11}\.ID\.`)
	stamp     = regexp.MustCompile(`<[0-9]{14}\.`)
	timeLine  = regexp.MustCompile(`(?m)^(time|size) [0-9]+$`)
)

// sameTime takes out of a run's output what differs from run to run:
// the HOME, queue IDs, dates, the envelope's time and size lines (the
// size counts the queue ID in the Message-ID).
func sameTime(s, home string) string {
	s = strings.ReplaceAll(s, home, "HOME")
	for _, m := range queueName.FindAllStringSubmatch(s, -1) {
		s = strings.ReplaceAll(s, m[1], "ID")
	}
	s = idName.ReplaceAllString(s, "T.ID.")
	s = rfc1123z.ReplaceAllString(s, "DATE")
	s = stamp.ReplaceAllString(s, "<STAMP.")
	return timeLine.ReplaceAllString(s, "$1 N")
}

// corpusDirIfAny is corpusDir without the skip.
func corpusDirIfAny() string {
	dir := filepath.Join(testenv.Root(), "..", "shared", "corpus", "messages")
	if _, err := os.Stat(dir); err != nil {
		return ""
	}
	return dir
}

// The small sendmail finds homepost beside itself, else in $PATH; with
// neither it says so and exits 69 (a mode it hands on) or 75 (a message
// it could not queue), leaving nothing queued.
func TestSendmailFindsHomepost(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	alone := filepath.Join(t.TempDir(), "sendmail")
	b, err := os.ReadFile(filepath.Join(e.Bin, "sendmail"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(path string, stdin string, args ...string) (string, int) {
		c := e.Cmd([]byte(stdin), "sendmail", args...)
		c.Path, c.Args[0] = alone, alone
		c.Env = append(slices.Clone(e.Vars), "PATH="+path)
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	// homepost in $PATH: -bp is handed to it.
	if out, code := run(e.Bin+":/usr/bin:/bin", "", "-bp"); code != 0 || !strings.Contains(out, "Mail queue is empty") {
		t.Errorf("-bp with homepost in PATH: exit %d: %s", code, out)
	}
	// A plain message needs no homepost at all.
	if out, code := run("/usr/bin:/bin", "Subject: x\n\nb\n", "-i", "root"); code != 0 {
		t.Errorf("queueing without homepost: exit %d: %s", code, out)
	}
	// No homepost anywhere: the modes it hands on fail with a reason.
	if out, code := run("/usr/bin:/bin", "", "-bp"); code != 69 || !strings.Contains(out, "cannot find the homepost program") {
		t.Errorf("-bp without homepost: exit %d: %s", code, out)
	}
	// And so does a config file only homepost can read: nothing queued.
	before := len(testenv.Files(e.Outbox("new")))
	os.WriteFile(e.Path(".config", "homepost", "config.toml"), []byte("local_domains = [\"x\"]\n"), 0o600)
	if out, code := run("/usr/bin:/bin", "Subject: x\n\nb\n", "-i", "root"); code != 75 || !strings.Contains(out, "cannot find the homepost program") {
		t.Errorf("full TOML without homepost: exit %d: %s", code, out)
	}
	if after := len(testenv.Files(e.Outbox("new"))); after != before {
		t.Errorf("queued %d messages without homepost to read the config", after-before)
	}
}
