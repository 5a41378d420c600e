package forwarder

import (
	"strings"
	"testing"
)

// An alias loop and an alias to itself are named with file and line
// when the aliases file is checked; a chain that ends is not.
func TestLoopsNamedAtCheck(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", "l1: l2\nl2: l1\nselfie: selfie\nchain: l3\nl3: alice\n", 0o600)
	got := Loops(e.cfg)
	var lines []string
	for _, err := range got {
		lines = append(lines, err.Error())
	}
	all := strings.Join(lines, "\n")
	if len(got) != 3 || !strings.Contains(all, e.cfg.Aliases+":1: l1: every message bounces: alias loop") ||
		!strings.Contains(all, ":3: selfie: ") || strings.Contains(all, "chain") {
		t.Errorf("Loops:\n%s", all)
	}
}
