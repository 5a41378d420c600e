package main

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Every --help text fits a terminal of 80 columns: homepost's own and
// each command's, with its actions' (queue hold --help).
func TestHelpWidth(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	h := newQueueHome(t, 0)
	runs := [][]string{{"--help"}, {"queue", "hold", "--help"}}
	for _, c := range commands {
		runs = append(runs, []string{c.name, "--help"})
	}
	for _, args := range runs {
		out, errOut, code := h.run("", args...)
		if code != 0 || out == "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errOut)
			continue
		}
		for _, l := range strings.Split(out, "\n") {
			if n := utf8.RuneCountInString(l); n > 80 {
				t.Errorf("%s: a line of %d columns:\n%s", strings.Join(args, " "), n, l)
			}
		}
	}
}
