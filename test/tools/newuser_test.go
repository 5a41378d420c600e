package tools

import (
	"strings"
	"testing"
)

// What a new user meets in the first hour: the messages of sendmail,
// check and flush as a person reads them.

// TestSendmailNamesUnknownOption: a long option is named whole, not by
// its second dash.
func TestSendmailNamesUnknownOption(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ arg, want string }{
		{"--frobnicate", "unknown option --frobnicate"},
		{"-tZ", "unknown option -Z in -tZ"},
	} {
		_, stderr, code := e.run("", "sendmail", tc.arg, "root")
		if code != 64 {
			t.Errorf("sendmail %s: exit %d, want 64", tc.arg, code)
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("sendmail %s: stderr %q does not say %q", tc.arg, stderr, tc.want)
		}
	}
}
