package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"homepost/outbox"
	"homepost/sysexits"
)

// A message held by homepost queue hold is listed under that hold and
// how to release it, not under its last attempt's reason, in the text
// and in --json; a bounced recipient keeps its verdict, a message not
// held keeps its reason, and the configuration's error (markHeld) does
// not take the place of the hold.
func TestMailqQueueHeldReason(t *testing.T) {
	old := "4.2.0 host 127.0.0.1 said: 451 4.2.0 mailbox busy"
	entries := []outbox.Entry{
		{ID: "HELD1", Held: true, Arrival: time.Unix(1, 0), Sender: "me@here",
			Rcpts: []outbox.Recipient{
				{Addr: "a@remote.example", Status: outbox.Deferred, Reason: old, Attempts: 1},
				{Addr: "b@remote.example", Status: outbox.Bouncing, Reason: "5.1.1 no such user", Attempts: 1},
				{Addr: "c@remote.example", Status: outbox.Pending},
			},
			Original: []string{"a@remote.example", "b@remote.example", "c@remote.example"}, Idx: []int{0, 1, 2}},
		{ID: "WAITS2", Arrival: time.Unix(2, 0), Sender: "me@here",
			Rcpts:    []outbox.Recipient{{Addr: "d@remote.example", Status: outbox.Deferred, Reason: old, Attempts: 1}},
			Original: []string{"d@remote.example"}, Idx: []int{0}},
	}
	markQueueHeld(entries)
	markHeld(entries[1:2], "config.toml:1: stroe: unknown key")
	markHeld(entries[:1], "config.toml:1: stroe: unknown key")
	want := "held by homepost queue hold until homepost queue release HELD1"
	if r := entries[0].Rcpts; r[0].Reason != want || r[2].Reason != want || r[1].Reason != "5.1.1 no such user" {
		t.Errorf("held message's reasons: %q, %q, %q", r[0].Reason, r[1].Reason, r[2].Reason)
	}
	if r := entries[1].Rcpts[0].Reason; r != "held: config.toml:1: stroe: unknown key" {
		t.Errorf("message not on hold: %q", r)
	}
	var text bytes.Buffer
	outbox.WritePostfix(&text, entries)
	if s := text.String(); strings.Contains(s, "mailbox busy") || !regexp.MustCompile(`(?m)^HELD1 *!`).MatchString(s) || !strings.Contains(s, "("+want+")\n") {
		t.Errorf("mailq:\n%s", s)
	}
	var j bytes.Buffer
	if err := outbox.WriteJSON(&j, entries[:1]); err != nil {
		t.Fatal(err)
	}
	if s := j.String(); strings.Contains(s, "mailbox busy") || !strings.Contains(s, `"delay_reason":"`+want+`"`) {
		t.Errorf("mailq --json: %s", s)
	}
}

// A listing that cannot be written to standard output (a full disk)
// fails with EX_IOERR and says why, in text, in --json and through
// sendmail -bp: a script must not take a cut listing, or none, for the
// queue. homepost queue does what it was asked, and fails the same way
// when it cannot report it.
func TestListingOutputError(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	full := devFull(t)
	h := newQueueHome(t, 2)
	run := func(args ...string) (string, int) { t.Helper(); return runOutTo(t, h, full, args...) }
	for _, args := range [][]string{{"mailq"}, {"mailq", "--json"}, {"sendmail", "-bp"}} {
		errOut, code := run(args...)
		if code != sysexits.IOErr || !strings.Contains(errOut, "homepost: mailq: writing to standard output: no space left on device\n") {
			t.Errorf("%v > /dev/full: exit %d, want %d; stderr:\n%s", args, code, sysexits.IOErr, errOut)
		}
	}
	errOut, code := run("queue", "hold", "ALL")
	if code != sysexits.IOErr || !strings.Contains(errOut, "homepost: queue hold: writing to standard output: no space left on device (2 messages held all the same)\n") {
		t.Errorf("queue hold > /dev/full: exit %d, want %d; stderr:\n%s", code, sysexits.IOErr, errOut)
	}
	for _, id := range h.ids {
		if _, held := h.state(id); !held {
			t.Errorf("%s not held", id)
		}
	}
}

// homepost check and check --paths fail with EX_IOERR when standard
// output cannot be written: make install reads --paths to find the
// lock and the outbox, and a script must not act on a cut list. Both
// exited as if they had been read (0, 1 or 78).
func TestCheckOutputError(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	full := devFull(t)
	h := newQueueHome(t, 0)
	for _, args := range [][]string{{"check", "--paths"}, {"check"}} {
		if e, code := runOutTo(t, h, full, args...); code != sysexits.IOErr || !strings.Contains(e, "writing to standard output: no space left on device\n") {
			t.Errorf("%v > /dev/full: exit %d, want %d; stderr:\n%s", args, code, sysexits.IOErr, e)
		}
	}
}

// runOutTo runs homepost with args in h's home, its standard output to
// out, and returns its standard error and exit status.
func runOutTo(t *testing.T, h *queueHome, out *os.File, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var e bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return e.String(), cmd.ProcessState.ExitCode()
}

// devFull opens /dev/full, whose every write fails with ENOSPC (a full
// disk), for the test's life; the test skips where there is none.
func devFull(t *testing.T) *os.File {
	t.Helper()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full:", err)
	}
	t.Cleanup(func() { full.Close() })
	return full
}
