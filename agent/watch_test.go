package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fsnotify/fsnotify"
)

// linkTargets follows each link from a watched file to the file it ends
// at, relative links from their own directory (itself resolved), and
// stops at a loop; a link to nothing ends at where its target would be.
func TestLinkTargets(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "dots", "hp"), 0o700))
	must(os.MkdirAll(filepath.Join(dir, "real", "cfg"), 0o700))
	must(os.Symlink(filepath.Join(dir, "real", "cfg"), filepath.Join(dir, "cfg"))) // a linked directory
	target := filepath.Join(dir, "dots", "hp", "config.toml")
	must(os.WriteFile(target, nil, 0o600))
	// cfg/config.toml -> ../dots/hp/mid -> config.toml: ".." of the
	// linked directory cfg is dir/real, where no dots/ exists.
	must(os.Symlink("../../dots/hp/mid", filepath.Join(dir, "real", "cfg", "config.toml")))
	must(os.Symlink("config.toml", filepath.Join(dir, "dots", "hp", "mid")))
	got := linkTargets(filepath.Join(dir, "cfg", "config.toml"))
	want := []string{filepath.Join(dir, "dots", "hp", "mid"), target}
	if !slices.Equal(got, want) {
		t.Errorf("chain: %v, want %v", got, want)
	}
	if got := linkTargets(target); got != nil {
		t.Errorf("a file that is no link: %v", got)
	}
	must(os.Symlink("gone/config.toml", filepath.Join(dir, "dangling")))
	if got := linkTargets(filepath.Join(dir, "dangling")); !slices.Equal(got, []string{filepath.Join(dir, "gone", "config.toml")}) {
		t.Errorf("a link to nothing: %v", got)
	}
	must(os.Symlink("b", filepath.Join(dir, "a")))
	must(os.Symlink("a", filepath.Join(dir, "b")))
	if got := linkTargets(filepath.Join(dir, "a")); len(got) != 2 {
		t.Errorf("a loop: %v", got)
	}
}

// A stamp tells a rewrite of the same size within the same second, a
// file renamed over, and a link made to point elsewhere.
func TestStampTellsChanges(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("aaaa"), 0o600); err != nil {
		t.Fatal(err)
	}
	s0 := stampOf(p)
	if err := os.WriteFile(p, []byte("bbbb"), 0o600); err != nil {
		t.Fatal(err)
	}
	s1 := stampOf(p)
	if s1 == s0 {
		t.Errorf("a rewrite in place of the same size is not told")
	}
	tmp := p + ".new"
	os.WriteFile(tmp, []byte("bbbb"), 0o600)
	os.Rename(tmp, p)
	if stampOf(p) == s1 {
		t.Errorf("a file renamed over is not told")
	}
	l := filepath.Join(dir, "l")
	os.WriteFile(filepath.Join(dir, "g"), []byte("bbbb"), 0o600)
	os.Symlink("f", l)
	s2 := stampOf(l)
	os.Remove(l)
	os.Symlink("g", l)
	if stampOf(l) == s2 {
		t.Errorf("a link made to point elsewhere is not told")
	}
	if stampOf(p) != stampOf(p) {
		t.Errorf("a file that did not change is told as changed")
	}
}

// dirAnchors names the paths whose replacement changes a watched file's
// directory: the directory itself and each link on the way, each as a
// name in an existing directory, relative links taken from where they
// are; a missing name ends the list, a loop ends, and home and what lies
// above it are left out.
func TestDirAnchors(t *testing.T) {
	home := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p := func(s ...string) string { return filepath.Join(append([]string{home}, s...)...) }
	must(os.MkdirAll(p(".config", "homepost"), 0o700))
	must(os.MkdirAll(p("dots", "a"), 0o700))
	check := func(d string, want ...string) {
		t.Helper()
		if got := dirAnchors(d, home); !slices.Equal(got, want) {
			t.Errorf("dirAnchors(%s): %v, want %v", d, got, want)
		}
	}
	check(p(".config", "homepost"), p(".config", "homepost"))
	check(home)
	check(filepath.Dir(home))
	check("/etc")
	check(p(".config", "gone", "deeper"), p(".config", "gone"))

	// ~/.config/hp -> ../dots/link -> a (relative, from ~/dots).
	must(os.Symlink("../dots/link", p(".config", "hp")))
	must(os.Symlink("a", p("dots", "link")))
	check(p(".config", "hp"), p(".config", "hp"), p("dots", "link"), p("dots", "a"))
	// An absolute link under home, and one to nothing.
	must(os.Symlink(p("dots", "a"), p(".config", "abs")))
	check(p(".config", "abs"), p(".config", "abs"), p("dots", "a"))
	must(os.Symlink(p("dots", "none"), p(".config", "dangling")))
	check(p(".config", "dangling"), p(".config", "dangling"), p("dots", "none"))
	// A loop ends.
	must(os.Symlink("l2", p("l1")))
	must(os.Symlink("l1", p("l2")))
	check(p("l1"), p("l1"), p("l2"))
	// A file on the way ends the list.
	must(os.WriteFile(p("file"), nil, 0o600))
	check(p("file", "x"))
}

// An overflow of the kernel's queue of events may lose the event of a
// change to config.toml, the aliases or .forward: the stamps are then
// compared, as at a SIGHUP, and a change found is read once it has
// settled. Only new/ was read again, and the change stayed unread until
// a SIGHUP or another change.
func TestOverflowRechecks(t *testing.T) {
	ta := newTestAgent(t, "")
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ta.watchFiles(w)
	if ta.watch.pending() {
		t.Fatal("a change waits before anything changed")
	}
	if err := os.WriteFile(filepath.Join(ta.home, ".forward"), []byte("bob@example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ta.eventsLost(fsnotify.ErrEventOverflow) // the event of the write among those lost
	if !ta.watch.pending() || !ta.watch.changed[filepath.Join(ta.home, ".forward")] {
		t.Errorf("the change of .forward is not seen: %v\n%s", ta.watch.changed, ta.logs.String())
	}
}
