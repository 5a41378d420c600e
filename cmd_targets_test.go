package main

import (
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// asNobody makes h run the binary as nobody when the tests run as root,
// whose permissions would let every file target through: the binary is
// copied where nobody may run it, and the home and config are handed
// over. It returns false when there is no such user. Run as another
// user already, h is left as it is.
func asNobody(t *testing.T, h *fwdHome) bool {
	t.Helper()
	if os.Getuid() != 0 {
		return true
	}
	u, err := user.LookupId("65534")
	if err != nil {
		return false
	}
	dir := filepath.Dir(h.config)
	data, err := os.ReadFile(h.bin)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin", "homepost")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	// t.TempDir's directories are 0700.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	err = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 65534, 65534)
	})
	if err != nil {
		t.Fatal(err)
	}
	h.bin, h.login = bin, u.Username
	h.as = &syscall.Credential{Uid: 65534, Gid: 65534}
	return true
}

// File targets in ~/.forward and the user's aliases that the agent can
// never write (another user's mbox, a symbolic link, a directory the
// user cannot create in) are named with their file:line by homepost
// resolve, check (warn) and newaliases, as a command whose program is
// missing is: the agent defers their mail, and no retry helps until the
// user fixes the path. The permissions are the user's: as root, the
// binary runs as nobody.
func TestUnwritableTargetsCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	h := newFwdHome(t, buildForwardBinary(t), "")
	h.write(h.system, "", 0o644)
	if !asNobody(t, h) {
		t.Skip("SKIP: no user nobody (uid 65534) to run as")
	}
	other := "/etc/passwd"
	if h.as != nil {
		// Written by root once the home is nobody's.
		other = h.write("other.mbox", "", 0o666)
	}
	for _, rel := range []string{"real.mbox", ".forward", ".config/homepost/aliases"} {
		text := map[string]string{
			".forward":                 other + "\n~/link.mbox\n~/ro/box\n~/ro/new/\n~/ok.mbox\n",
			".config/homepost/aliases": "links: ~/ok.mbox, ~/link.mbox\n",
		}[rel]
		h.write(rel, text, 0o600)
		if h.as != nil {
			os.Chown(filepath.Join(h.home, rel), 65534, 65534)
		}
	}
	if err := os.Symlink("real.mbox", filepath.Join(h.home, "link.mbox")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(h.home, "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	if h.as != nil {
		os.Lchown(filepath.Join(h.home, "link.mbox"), 65534, 65534)
		os.Chown(filepath.Join(h.home, "ro"), 65534, 65534)
	}
	home := func(s string) string { return strings.ReplaceAll(s, h.home, "~") }
	waits := "; mail to it waits in the queue until that is fixed, and bounces after max_queue_lifetime"
	warnings := []string{
		"~/.forward:1: " + home(other) + " belongs to user ",
		"~/.forward:2: ~/link.mbox is a symbolic link: mail is not delivered through it" + waits,
		"~/.forward:3: ~/ro/box cannot be created: you cannot create files in ~/ro (permission denied)" + waits,
		"~/.forward:4: ~/ro/new cannot be created: you cannot create files in ~/ro (permission denied)" + waits,
	}

	// Still targets, said to wait.
	unwritable := " (cannot be written: it would wait in the queue)"
	out := h.wantTargets(h.login, "mbox "+home(other)+unwritable, "mbox ~/link.mbox"+unwritable,
		"mbox ~/ro/box"+unwritable, "Maildir ~/ro/new/"+unwritable, "mbox ~/ok.mbox")
	for _, w := range warnings {
		if !strings.Contains(out, "warning: "+w) {
			t.Errorf("resolve lacks %q:\n%s", w, out)
		}
	}
	if n := strings.Count(out, "warning:"); n != len(warnings) {
		t.Errorf("resolve: %d warnings, want %d:\n%s", n, len(warnings), out)
	}

	out, _, _ = h.run("homepost", "check")
	out = home(out)
	for _, w := range warnings {
		if !strings.Contains(out, "warn forward: "+w) {
			t.Errorf("check lacks %q:\n%s", w, out)
		}
	}

	_, errs, code := h.run("newaliases")
	if w := "homepost: newaliases: ~/.config/homepost/aliases:1: ~/link.mbox is a symbolic link: mail is not delivered through it" + waits; code != 0 || !strings.Contains(home(errs), w) {
		t.Errorf("newaliases: exit %d, stderr lacks %q:\n%s", code, w, errs)
	}
}

// homepost resolve shows a value read from an aliases file with its
// control characters quoted (\x1b), as the warning under it does, not
// raw: an escape sequence would act on the terminal.
func TestResolveQuotesControlCharacters(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	h := newFwdHome(t, buildForwardBinary(t), "")
	h.write(h.system, "", 0o644)
	h.write(".config/homepost/aliases", "esc: foo\x1b[31mRED\n", 0o600)
	out, _, _ := h.run("homepost", "resolve", "esc")
	if strings.ContainsAny(out, "\x1b") {
		t.Errorf("raw ESC in:\n%q", out)
	}
	if want := `esc: ` + filepath.Join(h.home, ".config/homepost/aliases") + `:1: "foo\x1b[31mRED"`; !strings.Contains(out, want) {
		t.Errorf("resolve lacks %q:\n%s", want, out)
	}
	out, _, _ = h.run("homepost", "resolve", "--", "a\x1bb")
	if strings.ContainsAny(out, "\x1b") {
		t.Errorf("raw ESC from the argument in:\n%q", out)
	}
}

// homepost resolve and sendmail -bv read an argument as sendmail reads a
// recipient: what sendmail refuses as no address ("a@", exit 65) is
// said to be none, with sendmail's exit status, not taken for a remote
// address; a reading that changes the address is said.
func TestResolveBadAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	h := newFwdHome(t, buildForwardBinary(t), "")
	h.write(h.system, "", 0o644)
	_, errs, code := h.run("sendmail", "a@")
	if code != 65 || !strings.Contains(errs, `"a@" is not an address`) {
		t.Fatalf("sendmail a@: exit %d, %s", code, errs)
	}
	for _, args := range [][]string{{"homepost", "resolve", "a@"}, {"sendmail", "-bv", "a@"}, {"homepost", "resolve", "root", "a@"}} {
		out, _, code := h.run(args[0], args[1:]...)
		if code != 65 || !strings.Contains(out, `bad recipient address: "a@" is not an address`) || strings.Contains(out, "smarthost") {
			t.Errorf("%q: exit %d, want 65:\n%s", args, code, out)
		}
	}
	out, _, code := h.run("homepost", "resolve", ":include:/tmp/x")
	if !strings.HasPrefix(out, ":include:/tmp/x:\n  :include:/tmp/x is read as the address include:/tmp/x, as sendmail reads it\n") || code != 67 {
		t.Errorf("exit %d:\n%s", code, out)
	}
	// A list is each of its addresses, as sendmail queues it.
	out, _, _ = h.run("homepost", "resolve", "root, a@, bob@example.com")
	for _, w := range []string{`bad recipient address: "a@" is not an address`, "address 1 of 2, as sendmail reads the list: root", "address 2 of 2, as sendmail reads the list: bob@example.com", "remote bob@example.com"} {
		if !strings.Contains(out, w) {
			t.Errorf("resolve lacks %q:\n%s", w, out)
		}
	}
	// Usual ways of writing an address are read without a word.
	out, _, code = h.run("homepost", "resolve", "Root <root@localhost>")
	if code != 0 || strings.Contains(out, "is read as") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
