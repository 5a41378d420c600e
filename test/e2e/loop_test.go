package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// An exec: relay whose program hands the mail back to homepost (here a
// script around homepost's own sendmail, which check cannot recognise;
// a real MTA that forwards it back does the same) is a loop: each pass
// adds a Received field to the copy, and at 50 the message bounces
// 5.4.6 with one DSN to the sender, instead of going round for ever.
func TestExecRelayLoopEndsAtHopLimit(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	script := e.Path("handback")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec "+filepath.Join(e.Bin, "sendmail")+" \"$@\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := e.Path(".config", "homepost", "config.toml")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "[relay]\nurl = \"exec:%s -i\"\n", script)
	f.Close()
	e.StartAgent()
	e.MustSend("Subject: loop\n\nround and round\n", "r2@test.invalid")
	var dsn string
	e.WaitFor(func() bool {
		for _, n := range testenv.Files(e.Path("Maildir", "new")) {
			b, _ := os.ReadFile(e.Path("Maildir", "new", n))
			dsn = string(b)
		}
		return dsn != ""
	}, "the DSN of the looping message")
	e.WaitFor(func() bool { q, _, _ := e.Run(nil, "mailq"); return q == "Mail queue is empty\n" }, "an empty queue")
	if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 1 {
		t.Errorf("%d messages in the store, want the DSN alone", n)
	}
	if !strings.Contains(dsn, "5.4.6") || !strings.Contains(dsn, "too many hops (50 Received fields): mail loop") {
		t.Errorf("DSN:\n%s", dsn)
	}
	if n := strings.Count(dsn, "Received: by testhost.example (homepost) id "); n < 50 {
		t.Errorf("the returned message has %d Received fields of homepost's", n)
	}
	if !strings.Contains(dsn, "\n\nround and round\n") {
		t.Errorf("the message is not returned whole:\n%s", dsn)
	}
}

// A relay url that names the agent's own listener (the two 2525s
// confused) is a configuration error with file:line: check FAILs, and
// the agent holds the queue rather than send the mail to itself.
func TestRelayToOwnListenerIsConfigError(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "[relay]\nurl = \"smtp://127.0.0.1:4546\"\n[smtp]\nlisten = [\"127.0.0.1:4546\"]\n")
	out, _, code := e.Run(nil, "homepost", "check")
	if code == 0 || !strings.Contains(out, "config.toml:5: relay.url: 127.0.0.1:4546 is the agent's own [smtp] listen address") {
		t.Errorf("check: exit %d\n%s", code, out)
	}
	e.MustSend("Subject: loop\n\nx\n", "r@test.invalid")
	_, stderr, code := e.Run(nil, "homepost", "agent", "--once")
	if code != 78 || !strings.Contains(stderr, "relay.url") {
		t.Errorf("agent --once: exit %d\n%s", code, stderr)
	}
	if q, _, _ := e.Run(nil, "mailq"); !strings.Contains(q, "r@test.invalid") {
		t.Errorf("mailq:\n%s", q)
	}
}

// The example of config.example.toml, exec:/usr/sbin/sendmail -i, where
// that sendmail is homepost's own (here a link to it, as make
// install-system makes): check FAILs, and the agent holds remote mail
// with the reason instead of sending it to itself.
func TestExecRelayToOwnSendmailRefused(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	link := e.Path("sbin-sendmail")
	if err := os.Symlink(filepath.Join(e.Bin, "sendmail"), link); err != nil {
		t.Fatal(err)
	}
	cfg := e.Path(".config", "homepost", "config.toml")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "[relay]\nurl = \"exec:%s -i\"\n", link)
	f.Close()
	out, _, code := e.Run(nil, "homepost", "check")
	if code == 0 || !strings.Contains(out, "FAIL relay: ") || !strings.Contains(out, "relay.url: exec:"+link+" is homepost's own program") {
		t.Errorf("check: exit %d\n%s", code, out)
	}
	e.MustSend("Subject: loop\n\nx\n", "r2@test.invalid")
	e.Once()
	e.Once()
	q, _, _ := e.Run(nil, "mailq")
	if !strings.Contains(q, "r2@test.invalid") || !strings.Contains(q, "homepost's own program") || strings.Count(q, "\n\n") != 1 {
		t.Errorf("mailq:\n%s", q)
	}
}

// An exec: relay program that another user could replace (here
// world-writable) would run their code as the user for every remote
// message: check FAILs naming the file and the chmod that mends it, and
// the agent holds remote mail with the reason, as it does for a
// config.toml in such a place.
func TestExecRelayUnsafeProgramRefused(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	prog := e.Path("relay.sh")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\ncat >/dev/null\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(prog, 0o777); err != nil {
		t.Fatal(err)
	}
	cfg := e.Path(".config", "homepost", "config.toml")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "[relay]\nurl = \"exec:%s\"\n", prog)
	f.Close()
	out, _, code := e.Run(nil, "homepost", "check")
	if code == 0 || !strings.Contains(out, "FAIL relay: ") || !strings.Contains(out, prog+" is world-writable (mode 0777)") || !strings.Contains(out, "chmod go-w "+prog) {
		t.Errorf("check: exit %d\n%s", code, out)
	}
	e.MustSend("Subject: unsafe\n\nx\n", "r3@test.invalid")
	e.Once()
	q, _, _ := e.Run(nil, "mailq")
	if !strings.Contains(q, "r3@test.invalid") || !strings.Contains(unwrapped(q), "is world-writable") {
		t.Errorf("mailq:\n%s", q)
	}
}
