// Package man holds homepost's manual pages; this test lints them.
package man

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// environmental are mandoc messages about the manuals installed on this
// machine, not about ours: a page that cross-references sysexits(3) is
// not wrong where that page is missing.
var environmental = []string{"referenced manual not found", "outdated mandoc.db", "run makewhatis"}

func TestMandocLint(t *testing.T) {
	mandoc, err := exec.LookPath("mandoc")
	if err != nil {
		t.Skip("SKIP: mandoc is not installed (apt-get install mandoc); the man pages are not linted")
	}
	pages, _ := filepath.Glob("*.[0-9]")
	if len(pages) == 0 {
		t.Fatal("no man pages in man/")
	}
	for _, p := range pages {
		out, _ := exec.Command(mandoc, "-T", "lint", p).CombinedOutput()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line == "" || containsAny(line, environmental) {
				continue
			}
			t.Errorf("%s", line)
		}
	}
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
