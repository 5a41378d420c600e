package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCrontab(t *testing.T) {
	ct := parseCrontab(`# m h dom mon dow command
SHELL=/bin/sh
MAILTO=""
17 3 * * * /home/me/.local/bin/homepost cron -- backup --quiet
*/5 * * * *	homepost cron check-disk
@daily  tidy-downloads
PATH = /usr/bin:/bin
0 0 1 1 *
`)
	if ct.jobs != 3 || ct.wrapped != 2 || !ct.mailtoOff {
		t.Errorf("parseCrontab = %+v, want 3 jobs, 2 wrapped, MAILTO off", ct)
	}
	if ct := parseCrontab("MAILTO=me@example.org\n@reboot x\n"); ct.mailtoOff || ct.jobs != 1 || ct.wrapped != 0 {
		t.Errorf("parseCrontab = %+v", ct)
	}
}

func FuzzParseCrontab(f *testing.F) {
	f.Add("MAILTO=\"\"\n* * * * * homepost cron -- true\n@hourly x\n")
	f.Add("=\n@\n \t\n#")
	f.Fuzz(func(t *testing.T, s string) {
		ct := parseCrontab(s)
		if ct.wrapped > ct.jobs || ct.jobs < 0 {
			t.Errorf("parseCrontab(%q) = %+v", s, ct)
		}
	})
}

func TestParseLinger(t *testing.T) {
	for in, want := range map[string]string{"Linger=yes\n": "yes", "Linger=no": "no", "": "", "Failed to get user: No such user\n": ""} {
		if got := parseLinger([]byte(in)); got != want {
			t.Errorf("parseLinger(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWritableDir(t *testing.T) {
	dir := t.TempDir()
	if at, err := writableDir(filepath.Join(dir, "a", "b")); err != nil || at != dir {
		t.Errorf("writableDir(missing) = %q, %v; want %q", at, err, dir)
	}
	f := filepath.Join(dir, "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := writableDir(filepath.Join(f, "sub")); err == nil {
		t.Error("a directory under a regular file is writable?")
	}
}

// A run in an empty HOME passes the local checks; a broken
// configuration is a FAIL and a configuration error, and stops there.
func TestRun(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	cfgFile := filepath.Join(home, "homepost.toml")
	t.Setenv("HOMEPOST_CONFIG", cfgFile)
	os.WriteFile(cfgFile, []byte("# nothing set\n"), 0o600)
	var b strings.Builder
	r := Run(&b, Options{})
	out := b.String()
	if r.Config {
		t.Fatalf("configuration error in an empty config:\n%s", out)
	}
	for _, want := range []string{"ok   config: " + cfgFile + " parsed\n", "ok   outbox: ", "ok   store: ", "warn relay: no [relay] url"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "ok ") && !strings.HasPrefix(l, "warn ") && !strings.HasPrefix(l, "FAIL ") {
			t.Errorf("line without a verdict: %q", l)
		}
	}

	os.WriteFile(cfgFile, []byte("no_such_key = 1\n"), 0o600)
	b.Reset()
	r = Run(&b, Options{})
	if !r.Config || !r.Failed || !strings.HasPrefix(b.String(), "FAIL config: ") || strings.Count(b.String(), "\n") != 1 {
		t.Errorf("broken config: %+v\n%s", r, b.String())
	}
}
