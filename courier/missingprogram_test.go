package courier

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/outbox"
)

// MissingProgram names the program of a command line that is not found
// as a delivery looks for it (by its path, relative to the home, or in
// the PATH commands run with, never in the home) and only then: every
// command it names bounces at delivery. A line the shell runs is named
// only when its first word is surely the name of a program and neither
// a program found nor a built-in or keyword of the shell.
func TestMissingProgram(t *testing.T) {
	e := newEnv(t, "")
	script(t, e.home, "no-such-program-xyz", "exit 0\n")
	if err := os.Mkdir(filepath.Join(e.home, "bin"), 0o700); err != nil {
		t.Fatal(err)
	}
	script(t, filepath.Join(e.home, "bin"), "mine", "cat >/dev/null\n")
	const path = " in /usr/local/bin:/usr/bin:/bin (the PATH commands run with)"
	for _, tc := range []struct {
		cmd  string
		want string // the error, "" for none
	}{
		{"/usr/local/bin/nosuchprog-xyz -x", "/usr/local/bin/nosuchprog-xyz not found"},
		{"nosuchprog-xyz --flag", "nosuchprog-xyz not found" + path},
		{"no-such-program-xyz", "no-such-program-xyz not found" + path},
		{"  nosuchprog-xyz", "nosuchprog-xyz not found" + path},
		{"nosuchprog-xyz >>~/log 2>&1", "nosuchprog-xyz not found" + path},
		{"nosuchprog-xyz && cat >/dev/null", "nosuchprog-xyz not found" + path},
		{"/nonexistent/prog && exit 0", "/nonexistent/prog not found"},
		{"bin/nosuch-xyz -f-", filepath.Join(e.home, "bin/nosuch-xyz") + " not found"},

		// Found: a program, in PATH or by its path, a built-in or
		// keyword of the shell.
		{"cat", ""},
		{"/bin/cat -u", ""},
		{"bin/mine", ""},
		{"exit 75", ""},
		{"exit 0", ""},
		{": nothing", ""},
		{"test -d ~/x && cat >>~/x/log", ""},
		{"if true; then cat >/dev/null; fi", ""},
		{"exec cat", ""},
		{"cd /tmp && cat >/dev/null", ""},

		// Not surely a program's name: left alone.
		{"", ""},
		{"   ", ""},
		{"FOO=1 nosuchprog-xyz", ""},
		{"2>/dev/null nosuchprog-xyz", ""},
		{`"nosuchprog-xyz" -x`, ""},
		{"nosuch'prog'-xyz", ""},
		{"$HOME/bin/nosuchprog-xyz", ""},
		{"~/bin/nosuchprog-xyz", ""},
		{"nosuchprog-xyz () { cat; }; nosuchprog-xyz", ""},
		{"nosuchprog-xyz(){ cat; }; nosuchprog-xyz", ""},
		{"{ cat; }", ""},
		{"(cat)", ""},
		{"-x", ""},

		// Another command's status decides: the line may deliver.
		{"nosuchprog-xyz|cat", ""},
		{"/nonexistent/prog; exit 0", ""},
		{"nosuchprog-xyz || exit 75", ""},
		{"nosuchprog-xyz & cat >/dev/null", ""},
		{"nosuchprog-xyz\ncat >/dev/null", ""},
		{"nosuchprog-xyz 'a|b'", ""},
		{"/nonexistent/dir/../prog", "/nonexistent/dir/../prog not found"},
	} {
		err := MissingProgram(e.cfg, tc.cmd)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%q: %q, want %q", tc.cmd, got, tc.want)
		}
		if got == "" || strings.TrimSpace(tc.cmd) == "" {
			continue
		}
		// What it names bounces indeed.
		if st, dsn, reason := runCmd(t, e.cfg, tc.cmd); st != outbox.Bounced || dsn != "5.3.0" {
			t.Errorf("%q: delivered %v %s %q, want a 5.3.0 bounce", tc.cmd, st, dsn, reason)
		}
	}
}
