package smtpd_test

import (
	"os/exec"
	"strings"
	"testing"
)

// s-nail in v15-compat mode logs in whenever AUTH is offered, and with
// no password it refuses to send: README tells to give it -S
// smtp-auth=none, which sends. Set up with a user and password (as in
// its smtp://USER:PASS@ url) it logs in, and is let in, being the
// user's own.
func TestSNailV15(t *testing.T) {
	if _, err := exec.LookPath("s-nail"); err != nil {
		t.Skip("no s-nail")
	}
	l := start(t)
	run := func(stdin string, args ...string) (string, error) {
		c := exec.Command("s-nail", append([]string{"-:/", "-Sv15-compat", "-Snosave", "-Sfrom=app@example.org"}, args...)...)
		c.Env = append(l.Vars, "TERM=dumb")
		c.Stdin = strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := run("x\n", "-Smta=smtp://"+l.Addr, "-s", "no auth setting", l.Rcpt); err == nil {
		t.Logf("s-nail without smtp-auth sent (a newer s-nail?): %s", out)
	} else if !strings.Contains(out, "password") {
		t.Errorf("s-nail without smtp-auth failed, not for want of a password: %v: %s", err, out)
	}
	if out, err := run("x\n", "-Smta=smtp://"+l.Addr, "-Ssmtp-auth=none", "-s", "auth none", l.Rcpt); err != nil {
		t.Fatalf("s-nail -S smtp-auth=none: %v: %s", err, out)
	}
	if out, err := run("x\n", "-Smta=smtp://someone:placeholder@"+l.Addr, "-Ssmtp-auth=plain", "-s", "auth plain", l.Rcpt); err != nil {
		t.Fatalf("s-nail with a user and password: %v: %s", err, out)
	}
	got := l.delivered(2)
	if !strings.HasPrefix(got[0], "auth none|") || !strings.HasPrefix(got[1], "auth plain|") {
		t.Errorf("delivered %q", got)
	}
}
