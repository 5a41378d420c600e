package review

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// newaliases and homepost check name an alias loop and an alias to
// itself with file and line, where they said nothing and the user
// learned of it from the first bounce; newaliases still exits 0.
func TestNewaliasesNamesLoops(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	file := filepath.Join(e.Home, ".config", "homepost", "aliases")
	if err := os.WriteFile(file, []byte("l1: l2\nl2: l1\nselfie: selfie\nfine: root\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := e.Run(nil, "newaliases")
	if code != 0 || !strings.Contains(stderr, file+":1: l1: every message bounces: alias loop") || !strings.Contains(stderr, file+":3: selfie:") || strings.Contains(stderr, "fine") {
		t.Errorf("newaliases: exit %d:\n%s", code, stderr)
	}
	out, _, _ := e.Run(nil, "homepost", "check")
	if !strings.Contains(out, "warn aliases: "+file+":3: selfie:") {
		t.Errorf("check:\n%s", out)
	}
}
