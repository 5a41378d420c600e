package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// check FAILs a config.toml that others can write, and a default
// outbox place that others can write, each naming the path and the
// command that mends it.
func TestRunUnsafe(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	cfgFile := filepath.Join(home, "homepost.toml")
	t.Setenv("HOMEPOST_CONFIG", cfgFile)
	os.WriteFile(cfgFile, []byte("[relay]\nurl = \"exec:/bin/true\"\n"), 0o600)
	os.Chmod(cfgFile, 0o666)
	var b strings.Builder
	r := Run(&b, Options{})
	out := b.String()
	if !r.Config || !strings.HasPrefix(out, "FAIL config: "+cfgFile+": the file is world-writable (mode 0666)") || !strings.Contains(out, "chmod go-w "+cfgFile+"\n") {
		t.Errorf("a world-writable config.toml: %+v\n%s", r, out)
	}
	if strings.Contains(out, "relay: exec:") {
		t.Errorf("the relay of an unsafe file is shown as in force:\n%s", out)
	}

	t.Setenv("HOMEPOST_CONFIG", "")
	open := filepath.Join(home, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777)
	t.Setenv("XDG_STATE_HOME", open)
	b.Reset()
	r = Run(&b, Options{})
	out = b.String()
	if !r.Config || !strings.HasPrefix(out, "FAIL outbox: "+open+" is world-writable (mode 0777)") || !strings.Contains(out, "chmod go-w "+open) {
		t.Errorf("a default place open to all: %+v\n%s", r, out)
	}
}
