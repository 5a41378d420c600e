package review

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/submit"
	"homepost/test/testenv"
)

// Mail left in an outbox that the configuration no longer names: the
// agent's log, mailq and check give the same advice, and it is a safe
// one: the agent stopped, each file renamed into cur/ or new/ from tmp/
// (a mv to another file system makes the name first and copies into it,
// and a running agent took the half-written file as torn).
func TestStrandedAdviceSame(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	setConfig(t, e, baseConfig, 0o600)
	e.MustSend("Subject: queued before the change\n\nb\n", testenv.Login(t))
	old := e.Path(".local", "state", "homepost", "outbox")
	setConfig(t, e, "outbox = \"~/q2\"\n"+baseConfig, 0o600)
	advice := submit.StrandedAdvice(old, e.Path("q2"))
	for _, want := range []string{"stop the agent", "tmp/", old + "/cur/", e.Path("q2") + "/cur/"} {
		if !strings.Contains(advice, want) {
			t.Errorf("the advice does not say %q: %s", want, advice)
		}
	}
	if _, stderr, _ := e.Run(nil, "mailq"); !strings.Contains(stderr, advice) {
		t.Errorf("mailq does not give the advice %q:\n%s", advice, stderr)
	}
	if out, _, _ := e.Run(nil, "homepost", "check"); !strings.Contains(out, advice) {
		t.Errorf("check does not give the advice %q:\n%s", advice, out)
	}
	log := startAgentLog(t, e)
	e.WaitFor(func() bool { return strings.Contains(log.String(), "no longer the configured one") }, "the agent's report")
	// slog quotes the message: compare without the quoting.
	if !strings.Contains(strings.ReplaceAll(log.String(), `\"`, `"`), advice) {
		t.Errorf("the agent's log does not give the advice %q:\n%s", advice, log.String())
	}
}

// A queue file set aside in state_dir/corrupt/ holds mail never
// delivered: mailq and check report it, with what to do.
func TestSetAsideReported(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	setConfig(t, e, baseConfig, 0o600)
	dir := e.Path(".local", "state", "homepost", "corrupt")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "1796294874.661B87DE5C028407A.vm:2,"), []byte("Subject: torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, _ := e.Run(nil, "mailq"); !strings.Contains(stderr, "1 queue file(s) set aside in "+dir) {
		t.Errorf("mailq does not report the file set aside:\n%s", stderr)
	}
	out, _, _ := e.Run(nil, "homepost", "check")
	if !strings.Contains(out, "FAIL queue: 1 queue file(s) set aside in "+dir) || !strings.Contains(out, "tmp/") {
		t.Errorf("check does not report the file set aside:\n%s", out)
	}
}
