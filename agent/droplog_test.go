package agent

import (
	"errors"
	"strings"
	"testing"
)

// A name of outbox/new that cannot be dropped (out of file descriptors)
// is tried again at every look; its failure is logged once until the
// name is dropped, not at every look (thousands of lines a second).
func TestDropFailureLoggedOnce(t *testing.T) {
	ta := newTestAgent(t, "")
	emfile := errors.New("open outbox/cur: too many open files")
	for range 3 {
		ta.dropFailed("1.a", emfile)
		ta.dropFailed("1.b", emfile)
	}
	if n := strings.Count(ta.logs.String(), "drop claimed name"); n != 2 {
		t.Errorf("%d lines for two names failing three times each, want 2:\n%s", n, ta.logs.String())
	}
	ta.dropFailed("1.a", nil) // dropped at last
	ta.dropFailed("1.a", emfile)
	if n := strings.Count(ta.logs.String(), "file=1.a"); n != 2 {
		t.Errorf("a name that failed again after it was dropped is logged %d times, want 2", n)
	}
}
