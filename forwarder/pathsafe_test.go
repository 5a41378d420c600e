package forwarder

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"homepost/settings"
)

// A .forward, aliases file or :include: file in a directory that others
// may write is refused as config.toml is: another user could rename the
// user's own files there (.forward+lists into .forward) or swap them,
// and the file's own check would pass.
func TestUnsafeDirectoryOnPath(t *testing.T) {
	const why = "on the file's path, is world-writable (mode 0777): another user could replace the file, so it is not obeyed"
	t.Run("home world-writable", func(t *testing.T) {
		e := newEnv(t, "")
		e.user(".forward", "bob@example.com\n", 0o644)
		os.Chmod(e.home, 0o777)
		check(t, "alice", e.resolve("alice"), `\alice`)
		e.wantWarning(e.home + ", " + why)
		os.Chmod(e.home, 0o755)
		// Mended: obeyed at once, without waiting for the file to
		// change.
		check(t, "alice mended", e.resolve("alice"), "bob@example.com")
	})
	t.Run("home group-writable", func(t *testing.T) {
		e := newEnv(t, "")
		e.user(".forward", "bob@example.com\n", 0o644)
		os.Chmod(e.home, 0o775)
		if st, err := os.Stat(e.home); err == nil && settings.PrivateGroup(int(st.Sys().(*syscall.Stat_t).Gid), e.uid, "alice") {
			t.Skip("the home's group is the user's private group here: allowed")
		}
		check(t, "alice", e.resolve("alice"), `\alice`)
		e.wantWarning("group-writable (mode 0775)")
	})
	t.Run("sticky directory", func(t *testing.T) {
		e := newEnv(t, "")
		e.user(".forward", "bob@example.com\n", 0o644)
		os.Chmod(e.home, 0o777|os.ModeSticky)
		check(t, "alice", e.resolve("alice"), "bob@example.com")
		e.noWarnings()
	})
	t.Run("renamed into place", func(t *testing.T) {
		e := newEnv(t, "")
		e.user(".forward", "bob@example.com\n", 0o644)
		e.user(".forward+lists", "lists@example.com\n", 0o644)
		check(t, "alice", e.resolve("alice"), "bob@example.com")
		// The home opened to others after .forward was read: the file
		// another user renames into place is read anew, and refused.
		os.Chmod(e.home, 0o777)
		if err := os.Rename(e.path(".forward+lists"), e.path(".forward")); err != nil {
			t.Fatal(err)
		}
		check(t, "alice", e.resolve("alice"), `\alice`)
		e.wantWarning(why)
	})
	t.Run("extension", func(t *testing.T) {
		e := newEnv(t, "")
		e.user(".forward+lists", "lists@example.com\n", 0o644)
		os.Chmod(e.home, 0o777)
		check(t, "alice+lists", e.resolve("alice+lists"), `\alice`)
		e.wantWarning(e.path(".forward+lists") + " ignored: " + e.home + ", " + why)
	})
	t.Run("through a symbolic link", func(t *testing.T) {
		e := newEnv(t, "")
		e.user("dotfiles/forward", "bob@example.com\n", 0o644)
		os.Chmod(e.path("dotfiles"), 0o777)
		if err := os.Symlink(e.path("dotfiles/forward"), e.path(".forward")); err != nil {
			t.Fatal(err)
		}
		check(t, "alice", e.resolve("alice"), `\alice`)
		e.wantWarning(e.path("dotfiles") + ", " + why)
	})
	t.Run("user aliases", func(t *testing.T) {
		e := newEnv(t, "")
		e.user(".config/homepost/aliases", "x1: |/bin/true\n", 0o600)
		os.Chmod(e.path(".config/homepost"), 0o777)
		check(t, "x1", e.resolve("x1"), `\alice`)
		e.wantWarning(e.path(".config/homepost") + ", " + why)
	})
	t.Run("include", func(t *testing.T) {
		e := newEnv(t, "")
		inc := e.user("ww/inc", "|/bin/true\n", 0o644)
		os.Chmod(e.path("ww"), 0o777)
		e.user(".forward", ":include:"+inc+"\n", 0o644)
		check(t, "alice", e.resolve("alice"), `\alice`)
		e.wantWarning(".forward:1: :include:" + inc + " ignored: " + e.path("ww") + ", " + why)
	})
	t.Run("system aliases", func(t *testing.T) {
		e := newEnv(t, "")
		e.system("postmaster: bob@example.com\n")
		os.Chmod(e.home, 0o777)
		check(t, "postmaster world", e.resolve("postmaster"), `\alice`)
		e.wantWarning(e.path("etc-aliases") + " ignored: " + e.home + ", " + why)
		// Root's directories may let a group write (as the file
		// may), not everyone.
		os.Chmod(e.home, 0o775)
		check(t, "postmaster group", e.resolve("postmaster"), "bob@example.com")
	})
}

// check, newaliases and homepost resolve say why the file is refused.
func TestCheckUnsafeDirectoryOnPath(t *testing.T) {
	e := newEnv(t, "")
	e.user(".forward", "bob@example.com\n", 0o644)
	inc := e.user("ww/inc", "carol@example.com\n", 0o644)
	os.Chmod(e.path("ww"), 0o777)
	e.user(".config/homepost/aliases", "team: :include:"+inc+"\n", 0o600)
	for _, tc := range []struct {
		home   os.FileMode
		ignore []string // kinds of file ignored
		want   []string // errors
	}{
		{0o755, []string{KindInclude}, []string{
			e.path(".config/homepost/aliases") + ":1: :include:" + inc + " ignored: " + e.path("ww") + ", on the file's path, is world-writable (mode 0777)",
		}},
		{0o777, []string{KindForward, KindAliases}, []string{
			e.path(".forward") + ": ignored: " + e.home + ", on the file's path, is world-writable (mode 0777)",
			e.path(".config/homepost/aliases") + ": ignored: " + e.home + ", on the file's path",
		}},
	} {
		os.Chmod(e.home, tc.home)
		reports, errs := Check(e.cfg)
		found := map[string]string{}
		for _, r := range reports {
			found[r.Kind] = r.Ignored
		}
		for _, kind := range tc.ignore {
			if !strings.Contains(found[kind], "on the file's path, is world-writable (mode 0777)") {
				t.Errorf("home %04o: %s: ignored %q", tc.home, kind, found[kind])
			}
		}
		var all []string
		for _, err := range errs {
			all = append(all, err.Error())
		}
		text := strings.Join(all, "\n")
		for _, want := range tc.want {
			if !strings.Contains(text, want) {
				t.Errorf("home %04o: errors lack %q:\n%s", tc.home, want, text)
			}
		}
	}
}

// An :include: file that cannot be read, or that another user owns, is
// said from the aliases line that names it, as newaliases says every
// other problem.
func TestCheckIncludeNamesItsLine(t *testing.T) {
	e := newEnv(t, "")
	dir := t.TempDir()
	unreadable := filepath.Join(dir, "unreadable")
	os.WriteFile(unreadable, []byte("bob@example.com\n"), 0o644)
	foreign := filepath.Join(dir, "foreign")
	os.WriteFile(foreign, []byte("bob@example.com\n"), 0o644)
	if asRoot {
		// Owned by root and mode 0000 is readable by root still: a
		// directory in its place cannot be read as a file.
		os.Remove(unreadable)
		os.Mkdir(unreadable, 0o755)
		os.Chown(foreign, 4242, 4242)
	} else {
		os.Chmod(unreadable, 0)
	}
	e.user(".config/homepost/aliases", "# lists\ninc2: :include:"+unreadable+"\ninc4: :include:"+foreign+"\n", 0o600)
	_, errs := Check(e.cfg)
	var all []string
	for _, err := range errs {
		all = append(all, err.Error())
	}
	text := strings.Join(all, "\n")
	aliases := e.path(".config/homepost/aliases")
	want := []string{aliases + ":2: :include:" + unreadable + " ignored: "}
	if asRoot {
		// Without root the file cannot be given to another user.
		want = append(want, aliases+":3: :include:"+foreign+" ignored: owned by uid 4242")
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("errors lack %q:\n%s", w, text)
		}
	}
}
