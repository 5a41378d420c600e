package forwarder

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	e := newEnv(t, "")
	e.system("postmaster: root\nroot: alice\nstaff: :include:/nonexistent/staff\nroot: duplicate\n")
	inc := e.user("team", "bob@example.com\nbad value here\n", 0o644)
	e.user(".config/homepost/aliases", "team: :include:"+inc+"\nx y: z\n", 0o600)
	e.user(".forward", "\\alice\n", 0o666)
	reports, errs := Check(e.cfg)
	byKind := map[string]FileReport{}
	for _, r := range reports {
		byKind[r.Kind+" "+strings.ReplaceAll(r.Path, e.home, "~")] = r
	}
	sys := byKind["system aliases ~/etc-aliases"]
	if !sys.Exists || sys.Entries != 3 || sys.Longest != len(":include:/nonexistent/staff") ||
		sys.Total != len("postmaster")+len("root")+len("root")+len("alice")+len("staff")+len(":include:/nonexistent/staff") {
		t.Errorf("system report %+v", sys)
	}
	if len(sys.Errors) != 0 || len(sys.Warnings) != 1 || !strings.Contains(sys.Warnings[0].Error(), ":4: warning: duplicate alias \"root\"") {
		t.Errorf("system errors %v warnings %v", sys.Errors, sys.Warnings)
	}
	missing := byKind["include /nonexistent/staff"]
	if len(missing.Warnings) != 1 || len(missing.Errors) != 0 {
		t.Errorf("a missing include named by the system aliases is a warning: %+v", missing)
	}
	user := byKind["aliases ~/.config/homepost/aliases"]
	if user.Entries != 1 || len(user.Errors) != 1 || !strings.Contains(user.Errors[0].Error(), "aliases:2: alias name \"x y\"") {
		t.Errorf("user report %+v", user)
	}
	team := byKind["include ~/team"]
	if team.Entries != 1 || len(team.Errors) != 1 || !strings.Contains(team.Errors[0].Error(), "team:2:") {
		t.Errorf("include report %+v", team)
	}
	fwd := byKind["forward ~/.forward"]
	if fwd.Ignored != "world-writable (mode 0666)" || len(fwd.Errors) != 1 {
		t.Errorf("forward report %+v", fwd)
	}
	if len(errs) != 3 {
		t.Errorf("errors %v", errs)
	}
	var paths []string
	for _, p := range WatchPaths(e.cfg) {
		paths = append(paths, strings.ReplaceAll(p, e.home, "~"))
	}
	want := []string{"~/.config/homepost/aliases", "~/.forward", "~/etc-aliases", "~/team", "/nonexistent/staff"}
	if !slices.Equal(paths, want) {
		t.Errorf("WatchPaths = %q, want %q", paths, want)
	}
}

func TestCheckNothing(t *testing.T) {
	e := newEnv(t, "")
	// The fixture's system aliases are named in config.toml: turned
	// off here, as no file at all is the case.
	e.cfg.SystemAliases = ""
	reports, errs := Check(e.cfg)
	if len(reports) != 0 || len(errs) != 0 {
		t.Errorf("no files: %+v %v", reports, errs)
	}
	if paths := WatchPaths(e.cfg); len(paths) != 2 {
		t.Errorf("WatchPaths %v", paths)
	}
}

// Resolve may run from several goroutines of the agent at once.
func TestResolveConcurrent(t *testing.T) {
	e := newEnv(t, "")
	e.system(debianAliases)
	e.user(".forward", "bob@example.com\n", 0o644)
	done := make(chan string)
	for i := range 8 {
		go func() {
			for j := range 50 {
				if j == 25 && i == 0 {
					// A new mtime: every reader parses the file again.
					os.Chtimes(e.path(".forward"), time.Now(), time.Now().Add(time.Second))
				}
				ts := e.f.Resolve("root", nil)
				if len(ts) != 1 || ts[0].Value != "bob@example.com" {
					done <- fmt.Sprint(ts)
					return
				}
			}
			done <- ""
		}()
	}
	for range 8 {
		if s := <-done; s != "" {
			t.Error(s)
		}
	}
}

// A line of the system aliases that cannot be read is a warning for
// newaliases, like every other problem of a file the user cannot change:
// newaliases must not fail for /etc/aliases.
func TestCheckSystemSyntaxIsWarning(t *testing.T) {
	e := newEnv(t, "")
	e.system("postmaster root\nroot: alice, foo bar\n")
	reports, errs := Check(e.cfg)
	if len(errs) != 0 {
		t.Errorf("errors %v", errs)
	}
	for _, r := range reports {
		if r.Kind == KindSystemAliases && (len(r.Warnings) != 2 || !strings.Contains(r.Warnings[0].Error(), "etc-aliases:1: warning: missing ':'")) {
			t.Errorf("warnings %v", r.Warnings)
		}
	}
}
