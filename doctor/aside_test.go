package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A record of an mbox rewrite that was set aside (a crash stopped
// mail's rewrite, and another program changed the mbox before it could
// be finished) may hold the only whole copy of mail the mbox lost:
// check names each, beside the store and in the state directory, with
// what to do, and says nothing of the empty name a crash may leave
// reserved.
func TestCheckListsSetAsideRecords(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("MAIL", "")
	t.Setenv("MBOX", "")
	cfgFile := filepath.Join(home, "homepost.toml")
	t.Setenv("HOMEPOST_CONFIG", cfgFile)
	store := filepath.Join(home, "inbox")
	os.WriteFile(store, nil, 0o600)
	os.WriteFile(cfgFile, []byte("system_aliases = \"\"\nstore = \"mbox:"+store+"\"\n"), 0o600)
	beside := filepath.Join(home, ".inbox.homepost-rewrite.12.20261203T101500.unapplied")
	folder := filepath.Join(home, "mail", ".saved.homepost-rewrite.13.20261203T101600.unapplied")
	stateDir := filepath.Join(home, ".local", "state", "homepost", "mbox-rewrite")
	inState := filepath.Join(stateDir, "65024-14.14.20261203T101700.unapplied")
	reserved := filepath.Join(home, ".inbox.homepost-rewrite.12.20261203T101800.unapplied")
	os.MkdirAll(filepath.Dir(folder), 0o700)
	os.MkdirAll(stateDir, 0o700)
	for _, n := range []string{beside, folder, inState} {
		if err := os.WriteFile(n, []byte("the new contents\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(reserved, nil, 0o600)
	var b strings.Builder
	Run(&b, Options{})
	out := b.String()
	for _, n := range []string{beside, folder, inState} {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "warn mbox: ") && strings.Contains(l, n) {
				line = l
			}
		}
		if line == "" || !strings.Contains(line, "then remove "+n) {
			t.Errorf("check does not name %s with what to do:\n%s", n, out)
		}
	}
	if strings.Contains(out, reserved) {
		t.Errorf("check names the empty reserved name %s:\n%s", reserved, out)
	}
	if !strings.Contains(out, "rewrite of "+store+" ") {
		t.Errorf("the record beside the store does not name it:\n%s", out)
	}
}
