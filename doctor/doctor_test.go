package doctor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"homepost/config"
	"homepost/relay"
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
	if ct.jobs != 3 || ct.wrapped != 2 || ct.silenced != 1 {
		t.Errorf("parseCrontab = %+v, want 3 jobs, 2 wrapped, 1 with MAILTO off", ct)
	}
	if ct := parseCrontab("MAILTO=me@example.org\n@reboot x\n"); ct.silenced != 0 || ct.jobs != 1 || ct.wrapped != 0 {
		t.Errorf("parseCrontab = %+v", ct)
	}
}

func FuzzParseCrontab(f *testing.F) {
	f.Add("MAILTO=\"\"\n* * * * * homepost cron -- true\n@hourly x\n")
	f.Add("=\n@\n \t\n#")
	f.Fuzz(func(t *testing.T, s string) {
		ct := parseCrontab(s)
		if ct.wrapped+ct.own+ct.silenced > ct.jobs || ct.jobs < 0 || len(ct.runs) != ct.wrapped+ct.own {
			t.Errorf("parseCrontab(%q) = %+v", s, ct)
		}
	})
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
	for _, want := range []string{"ok   config: " + cfgFile + " parsed\n", "ok   outbox: ", "ok   store: ", "ok   durability: ", "warn relay: no [relay] url"} {
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
	// A broken file is reported by file:line; the checks that need only
	// the queue's place still run, and the store, forwarding and relay
	// checks, which need the file, do not.
	out = b.String()
	if !r.Config || !r.Failed || !strings.HasPrefix(out, "FAIL config: "+cfgFile+":1: no_such_key: unknown key\n") ||
		!strings.Contains(out, "FAIL delivery: held: mail is queued") || !strings.Contains(out, "outbox: ") ||
		!strings.Contains(out, "agent: ") || strings.Contains(out, "store: ") || strings.Contains(out, "relay: ") {
		t.Errorf("broken config: %+v\n%s", r, out)
	}
}

// systemdAt points the systemd state that check reads at a temporary
// tree: booted or not, and the users with lingering on.
func systemdAt(t *testing.T, isBooted bool, lingering ...string) {
	dir := t.TempDir()
	old1, old2 := systemdDir, lingerDir
	t.Cleanup(func() { systemdDir, lingerDir = old1, old2 })
	systemdDir, lingerDir = filepath.Join(dir, "run", "systemd", "system"), filepath.Join(dir, "linger")
	if isBooted {
		os.MkdirAll(systemdDir, 0o755)
		os.MkdirAll(lingerDir, 0o755)
	}
	for _, u := range lingering {
		os.WriteFile(filepath.Join(lingerDir, u), nil, 0o644)
	}
}

// Lingering is read from logind's record, and nothing about units or
// lingering is asked of systemd where it does not run.
func TestSystemdState(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(home, "run")) // no user bus there
	for _, v := range []string{"HOMEPOST_CONFIG", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"} {
		t.Setenv(v, "")
	}
	t.Setenv("PATH", t.TempDir()) // no systemctl, no loginctl: none may be needed
	run := func() string {
		var b strings.Builder
		Run(&b, Options{})
		return b.String()
	}
	me, _ := config.Load()

	systemdAt(t, false)
	out := run()
	if !strings.Contains(out, "warn unit: systemd is not running on this machine") || strings.Contains(out, "linger") {
		t.Errorf("without systemd:\n%s", out)
	}
	if strings.Contains(out, "systemctl") {
		t.Errorf("without systemd, check speaks of systemctl:\n%s", out)
	}

	systemdAt(t, true, me.User)
	out = run()
	for _, want := range []string{"warn unit: no systemd user instance for " + me.User, "ok   linger: on"} {
		if !strings.Contains(out, want) {
			t.Errorf("booted, lingering: output lacks %q:\n%s", want, out)
		}
	}

	systemdAt(t, true, "someone-else")
	if out := run(); !strings.Contains(out, "warn linger: off") {
		t.Errorf("booted, not lingering:\n%s", out)
	}
}

// check says of the store what delivery will find: an mbox reached
// through a symbolic link is not delivered into, so it is no "ok".
func TestStoreAsDeliverySeesIt(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	cfgFile := filepath.Join(home, "homepost.toml")
	t.Setenv("HOMEPOST_CONFIG", cfgFile)
	real := filepath.Join(home, "real.mbox")
	os.WriteFile(real, nil, 0o600)
	link := filepath.Join(home, "link.mbox")
	os.Symlink(real, link)
	os.WriteFile(cfgFile, []byte("system_aliases = \"\"\nstore = \"mbox:"+link+"\"\n"), 0o600)
	var b strings.Builder
	Run(&b, Options{})
	if out := b.String(); !strings.Contains(out, "FAIL store: ") || !strings.Contains(out, "symbolic link") {
		t.Errorf("store through a link:\n%s", out)
	}
	os.WriteFile(cfgFile, []byte("system_aliases = \"\"\nstore = \"mbox:"+real+"\"\n"), 0o600)
	b.Reset()
	Run(&b, Options{})
	if out := b.String(); !strings.Contains(out, "ok   store: mbox "+real+" writable") {
		t.Errorf("store:\n%s", out)
	}
}

// A background delivery is told apart from the daemon by its command
// line: check must not blame it for a listener it never opens.
func TestIsBackground(t *testing.T) {
	bg := exec.Command("/bin/sh", "-c", "sleep 30", "homepost", "agent", "--background")
	daemon := exec.Command("/bin/sh", "-c", "sleep 30", "homepost", "agent")
	for _, c := range []*exec.Cmd{bg, daemon} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { c.Process.Kill(); c.Wait() }()
	}
	if !isBackground(bg.Process.Pid) || isBackground(daemon.Process.Pid) {
		t.Errorf("background %v, daemon %v", isBackground(bg.Process.Pid), isBackground(daemon.Process.Pid))
	}
}

// The warning for a smarthost without SMTPUTF8 says that an
// internationalized domain goes in A-labels, and that only a local part
// in UTF-8 bounces; it said that every address in UTF-8 bounced.
func TestNoUTF8Warning(t *testing.T) {
	if s := noUTF8(relay.Offers{Known: true, UTF8: true}); s != "" {
		t.Errorf("with SMTPUTF8: %q", s)
	}
	s := noUTF8(relay.Offers{Known: true})
	for _, want := range []string{"nor SMTPUTF8", "goes in A-labels", "user@xn--bcher-kva.example", "local part is in UTF-8 bounces (5.6.7)"} {
		if !strings.Contains(s, want) {
			t.Errorf("without SMTPUTF8: %q lacks %q", s, want)
		}
	}
}
