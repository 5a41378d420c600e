package forwarder

import (
	"strings"
	"testing"
)

// resolve names the file and line of a remote address that a .forward
// or an aliases line gives, as it names those of the other targets.
func TestRemoteTargetTracedWithLine(t *testing.T) {
	e := newEnv(t, "")
	e.system("")
	e.user(".forward", "\\alice\nfar@test.invalid, other@test.invalid\n", 0o600)
	var trace []string
	e.f.Explain("alice", nil, func(_ int, msg string) { trace = append(trace, msg) })
	text := strings.ReplaceAll(strings.Join(trace, "\n"), e.home, "~")
	for _, w := range []string{
		"~/.forward:2: far@test.invalid: remote address -> smarthost",
		"~/.forward:2: other@test.invalid: remote address -> smarthost",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("resolve trace lacks %q:\n%s", w, text)
		}
	}
	// A remote recipient itself has no line.
	trace = nil
	e.f.Explain("bob@remote.example", nil, func(_ int, msg string) { trace = append(trace, msg) })
	if got := strings.Join(trace, "\n"); !strings.Contains(got, "bob@remote.example: remote address -> smarthost") || strings.Contains(got, "the recipient") {
		t.Errorf("trace of a remote recipient: %q", got)
	}
}
