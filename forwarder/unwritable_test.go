package forwarder

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// A file target that the agent can never write (an mbox owned by
// another user, a symbolic link it does not deliver through, a Maildir
// named by a path that is a file, a directory the user cannot create
// in) is still a target: its mail waits in the queue, as delivery
// defers it, until the user fixes the path. But resolve, Check
// (homepost check, newaliases) and the agent's log when it reads the
// files name its line, as they do for a command whose program is
// missing: no retry helps meanwhile, and the sender hears only after
// max_queue_lifetime. Targets that can be written are no warning.
func TestUnwritableFileTargets(t *testing.T) {
	e := newEnv(t, "")
	e.system("")
	// Another user's mbox: as root, the test's files belong to root,
	// not to alice; otherwise a file of root's.
	other := "/etc/passwd"
	if asRoot {
		other = e.path("other.mbox")
		if err := os.WriteFile(other, nil, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	e.user("real.mbox", "", 0o600)
	if err := os.Symlink("real.mbox", e.path("link.mbox")); err != nil {
		t.Fatal(err)
	}
	e.user("plain", "", 0o600)
	e.user(".forward", other+"\n~/link.mbox\n~/plain/\n~/ok.mbox\n~/new/box/\n~/real.mbox\n", 0o600)
	e.user(".config/homepost/aliases", "links: ~/link.mbox, ~/ok.mbox\n", 0o600)
	home := func(s string) string { return strings.ReplaceAll(s, e.home, "~") }

	// Still targets: delivery defers them.
	want := []string{home(other), "~/link.mbox", "~/plain/", "~/ok.mbox", "~/new/box/", "~/real.mbox"}
	if got := e.resolve("alice"); !slices.Equal(got, want) {
		t.Errorf("alice -> %q, want %q", got, want)
	}
	const waits = "; mail to it waits in the queue until that is fixed, and bounces after max_queue_lifetime"
	wantForward := []string{
		"~/.forward:1: " + home(other) + " belongs to ",
		"~/.forward:2: ~/link.mbox is a symbolic link: mail is not delivered through it" + waits,
		"~/.forward:3: ~/plain is a file, not a Maildir: to deliver into it as an mbox, name it without the '/'" + waits,
	}
	var trace []string
	e.f.Explain("alice", nil, func(_ int, msg string) { trace = append(trace, home(msg)) })
	text := strings.Join(trace, "\n")
	for _, w := range wantForward {
		if !strings.Contains(text, "warning: "+w) {
			t.Errorf("resolve trace lacks %q:\n%s", w, text)
		}
	}
	if n := strings.Count(text, "warning:"); n != len(wantForward) {
		t.Errorf("%d warnings, want %d:\n%s", n, len(wantForward), text)
	}

	reports, errs := Check(e.cfg)
	if len(errs) != 0 {
		t.Errorf("errors %v: a target that cannot be written is a warning", errs)
	}
	got := map[string][]string{}
	for _, r := range reports {
		for _, w := range r.Warnings {
			got[r.Kind] = append(got[r.Kind], home(w.Error()))
		}
	}
	if len(got[KindForward]) != len(wantForward) {
		t.Errorf("forward warnings %q, want %q", got[KindForward], wantForward)
	} else {
		for i, w := range wantForward {
			if !strings.HasPrefix(got[KindForward][i], w) || !strings.HasSuffix(got[KindForward][i], waits) {
				t.Errorf("forward warning %q, want %q...%s", got[KindForward][i], w, waits)
			}
		}
	}
	wantAliases := []string{"~/.config/homepost/aliases:1: ~/link.mbox is a symbolic link: mail is not delivered through it" + waits}
	if !slices.Equal(got[KindAliases], wantAliases) {
		t.Errorf("aliases warnings %q, want %q", got[KindAliases], wantAliases)
	}

	e.log.Reset()
	e.f.Load()
	e.wantWarning(".forward:2: " + e.path("link.mbox") + " is a symbolic link")
	e.wantWarning("aliases:1: " + e.path("link.mbox") + " is a symbolic link")
}

// A directory the user cannot create in, for an mbox or a Maildir not
// yet made, and a Maildir whose new/ the user cannot write: asked of
// the kernel as the user (faccessat), which root's permissions would
// pass; the command tests run homepost as another user for it.
func TestUnwritableDirectories(t *testing.T) {
	if asRoot {
		t.Skip("SKIP: root may write everywhere (TestUnwritableTargetsCLI runs it as another user)")
	}
	e := newEnv(t, "")
	e.system("")
	if err := os.Mkdir(e.path("ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	makeMaildir(t, e.path("md"))
	if err := os.Chmod(e.path("md/new"), 0o555); err != nil {
		t.Fatal(err)
	}
	e.user(".forward", "~/ro/box\n~/ro/sub/dir/\n~/md\n~/ok/\n", 0o600)
	reports, _ := Check(e.cfg)
	var got []string
	for _, r := range reports {
		for _, w := range r.Warnings {
			got = append(got, strings.ReplaceAll(w.Error(), e.home, "~"))
		}
	}
	want := []string{
		"~/.forward:1: ~/ro/box cannot be created: you cannot create files in ~/ro (permission denied)",
		"~/.forward:2: ~/ro/sub/dir cannot be created: you cannot create files in ~/ro (permission denied)",
		"~/.forward:3: ~/md cannot be written: you cannot create files in ~/md/new (permission denied)",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %q, want %q...", got[i], want[i])
		}
	}
}
