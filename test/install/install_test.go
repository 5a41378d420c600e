// Package install tests make install, the installed links and make
// uninstall in a temporary PREFIX and HOME, and the system-wide linking
// script in a temporary root.
package install

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"homepost/test/testenv"
)

func repoRoot() string { return testenv.Root() }

// goEnv keeps the go build cache and module cache of the test run: make
// runs with another HOME, where both would be empty.
func goEnv(t *testing.T) []string {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(f) != 3 {
		t.Fatalf("go env: %q", out)
	}
	return []string{"GOCACHE=" + f[0], "GOMODCACHE=" + f[1], "GOPATH=" + f[2], "GOPROXY=off"}
}

// userEnv is the environment of a user whose HOME is home: the XDG
// variables and the systemd session of the test run are left out, so
// nothing reaches the real user's files or systemd instance.
func userEnv(home string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || strings.HasPrefix(k, "XDG_") || k == "HOMEPOST_CONFIG" || k == "DBUS_SESSION_BUS_ADDRESS" || k == "MAKEFLAGS" || k == "MFLAGS" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "XDG_RUNTIME_DIR="+filepath.Join(home, "run"))
	return append(env, extra...)
}

// makeCmd runs make in the repository. When the Makefile does not
// include mk/install.mk yet, the fragment is given with -f and
// install-extra is asked for by name.
func makeCmd(t *testing.T, env []string, targets ...string) string {
	t.Helper()
	root := repoRoot()
	mf, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	if !bytes.Contains(mf, []byte("include mk/install.mk")) {
		t.Log("NOTE: the Makefile does not include mk/install.mk; passing it with -f")
		args = append(args, "-f", "Makefile", "-f", "mk/install.mk")
		if slices.Contains(targets, "install") {
			targets = append(targets, "install-extra")
		}
	}
	cmd := exec.Command("make", append(append(args, "--no-print-directory"), targets...)...)
	cmd.Dir = root
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %v: %v\n%s", targets, err, out)
	}
	return string(out)
}

// tree lists the files and links under dir (not directories).
func tree(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	return out
}

func TestInstallUninstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("SKIP: make is not installed")
	}
	tmp := t.TempDir()
	prefix := filepath.Join(tmp, "prefix")
	home := filepath.Join(tmp, "home")
	bindir := filepath.Join(prefix, "bin")
	unitdir := filepath.Join(home, ".config", "systemd", "user")
	os.MkdirAll(home, 0o755)
	env := userEnv(home, goEnv(t)...)
	vars := []string{"PREFIX=" + prefix, "HOME=" + home}

	out := makeCmd(t, env, append([]string{"install"}, vars...)...)
	// No systemd user session runs for this HOME: install says so, and
	// does not tell the user to start the agent with systemctl.
	for _, want := range []string{"no systemd user session", "Next steps:\n  1. " + bindir + " is NOT on your PATH", "2. homepost check"} {
		if !strings.Contains(out, want) {
			t.Errorf("make install did not print %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "systemctl") {
		t.Errorf("make install without a systemd user session tells about systemctl:\n%s", out)
	}
	// The build says what it builds and why it may take minutes, before
	// go prints anything.
	build := strings.Index(out, "homepost: building ./homepost")
	if build < 0 || !strings.Contains(out, "a few minutes") || build > strings.Index(out, "go build") {
		t.Errorf("make install does not announce the build before running it:\n%s", out)
	}

	// Debian's cron and sudo mail through /usr/sbin/sendmail only: where
	// it does not exist, install says what to do instead. Here the
	// system paths are under a root of the test's own, with none.
	const noMTA = "/usr/sbin/sendmail does not exist: cron"
	rootVars := append([]string{"install", "LINK_ROOT=" + filepath.Join(tmp, "root")}, vars...)
	out2 := makeCmd(t, env, rootVars...)
	if !strings.Contains(out2, noMTA) || !strings.Contains(out2, "homepost cron -- JOB") {
		t.Errorf("make install without /usr/sbin/sendmail did not say how cron output reaches the user:\n%s", out2)
	}
	os.MkdirAll(filepath.Join(tmp, "root", "usr", "sbin"), 0o755)
	os.Symlink("/bin/true", filepath.Join(tmp, "root", "usr", "sbin", "sendmail"))
	out2 = makeCmd(t, env, rootVars...)
	if strings.Contains(out2, noMTA) {
		t.Errorf("make install with a /usr/sbin/sendmail says it does not exist:\n%s", out2)
	}

	// What install must have written.
	want := []string{"bin/homepost", "share/doc/homepost/config.example.toml"}
	for _, l := range []string{"sendmail", "send-mail", "mail", "mailx", "mailq", "newaliases"} {
		want = append(want, "bin/"+l)
		link := "homepost"
		switch l {
		case "sendmail":
			// The small sendmail program, not a link.
			if st, err := os.Lstat(filepath.Join(bindir, l)); err != nil || !st.Mode().IsRegular() {
				t.Errorf("sendmail is not a program of its own: %v %v", st, err)
			}
			continue
		case "send-mail":
			link = "sendmail"
		}
		if target, err := os.Readlink(filepath.Join(bindir, l)); err != nil || target != link {
			t.Errorf("%s: link to %q, %v; want %s", l, target, err, link)
		}
	}
	pages, _ := filepath.Glob(filepath.Join(repoRoot(), "man", "*.[1-8]"))
	for _, p := range pages {
		sec := p[len(p)-1:]
		want = append(want, "share/man/man"+sec+"/"+filepath.Base(p))
	}
	got := tree(t, prefix)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("make install did not write %s (wrote %v)", w, got)
		}
	}
	for _, u := range []string{"homepost.service", "homepost-notify@.service"} {
		data, err := os.ReadFile(filepath.Join(unitdir, u))
		if err != nil {
			t.Errorf("unit not installed: %v", err)
			continue
		}
		if bytes.Contains(data, []byte("@BINDIR@")) || !bytes.Contains(data, []byte("ExecStart="+bindir+"/homepost ")) {
			t.Errorf("%s: ExecStart does not name %s/homepost:\n%s", u, bindir, data)
		}
	}
	// The SMTP socket unit is installed, not enabled.
	if _, err := os.Stat(filepath.Join(unitdir, "homepost-smtp.socket")); err != nil {
		t.Errorf("homepost-smtp.socket not installed: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(unitdir, "sockets.target.wants", "homepost-smtp.socket")); err == nil {
		t.Error("make install enabled homepost-smtp.socket")
	}

	// The installed links work for a user with that HOME: queue a
	// message with sendmail, see it with mailq.
	os.MkdirAll(filepath.Join(home, ".config", "homepost"), 0o700)
	os.WriteFile(filepath.Join(home, ".config", "homepost", "config.toml"), []byte("deliver_without_agent = false\nsystem_aliases = \"\"\n"), 0o600)
	runEnv := userEnv(home, "PATH="+bindir+":/usr/bin:/bin")
	sm := exec.Command(filepath.Join(bindir, "sendmail"), "-t", "-i")
	sm.Env = runEnv
	sm.Stdin = strings.NewReader("To: someone@example.org\nSubject: installed\n\nhello\n")
	if out, err := sm.CombinedOutput(); err != nil {
		t.Fatalf("installed sendmail: %v\n%s", err, out)
	}
	mq := exec.Command(filepath.Join(bindir, "mailq"))
	mq.Env = runEnv
	qout, _ := mq.CombinedOutput()
	if !strings.Contains(string(qout), "someone@example.org") {
		t.Errorf("installed mailq does not list the message:\n%s", qout)
	}
	queued, _ := filepath.Glob(filepath.Join(home, ".local", "state", "homepost", "outbox", "new", "*"))
	if len(queued) != 1 {
		t.Errorf("%d messages in the outbox of HOME, want 1", len(queued))
	}

	// The unit as installed passes systemd-analyze, where it can run.
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		os.MkdirAll(filepath.Join(home, "run"), 0o700)
		cmd := exec.Command(sa, "--user", "verify", "--man=no", filepath.Join(unitdir, "homepost.service"))
		cmd.Env = userEnv(home)
		out, _ := cmd.CombinedOutput()
		if strings.Contains(string(out), "homepost") && !strings.Contains(string(out), "Failed to initialize manager") {
			t.Errorf("systemd-analyze verify of the installed unit:\n%s", out)
		}
	}

	makeCmd(t, env, append([]string{"uninstall"}, vars...)...)
	if left := tree(t, prefix); len(left) > 0 {
		t.Errorf("make uninstall left %v under PREFIX", left)
	}
	if left := tree(t, filepath.Join(home, ".config", "systemd")); len(left) > 0 {
		t.Errorf("make uninstall left %v in the unit directory", left)
	}
}

// TestNextSteps checks what install says is left to do in each state
// it can find the host in: it names systemctl only where a systemd user
// session runs, and PATH only where BINDIR is not on it.
func TestNextSteps(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("SKIP: make is not installed")
	}
	t.Parallel()
	home := t.TempDir()
	for _, c := range []struct {
		agent, path string
		want        []string
		not         []string
	}{
		{"running", "/usr/bin:/bin", []string{"the agent runs", "Next steps:\n  1. /opt/hp/bin is NOT on your PATH", "\n  2. homepost check"},
			[]string{"enable --now", "no systemd user session"}},
		{"stopped", "/opt/hp/bin:/usr/bin", []string{"/opt/hp/bin is on your PATH", "Next steps:\n  1. start the agent:  systemctl --user enable --now homepost", "\n  2. homepost check"},
			[]string{"NOT on your PATH", "no systemd user session", "the agent runs"}},
		{"none", "/opt/hp/bin:/usr/bin", []string{"no systemd user session", "homepost check --crontab prints to your crontab", "Next steps:\n  1. homepost check"},
			[]string{"systemctl", "NOT on your PATH", "lingering"}},
		{"system", "/opt/hp/bin:/usr/bin", []string{"1. each user starts the agent:  systemctl --user enable --now homepost", "systemctl --global enable homepost", "2. homepost check"},
			[]string{"no systemd user session", "NOT on your PATH"}},
	} {
		env := userEnv(home, "PATH="+c.path)
		out := makeCmd(t, env, "next-steps", "AGENT="+c.agent, "BINDIR=/opt/hp/bin")
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("AGENT=%s: no %q in:\n%s", c.agent, w, out)
			}
		}
		for _, n := range c.not {
			if strings.Contains(out, n) {
				t.Errorf("AGENT=%s: %q does not apply, yet:\n%s", c.agent, n, out)
			}
		}
	}
}

// TestNextStepsNoBackgroundDelivery: with deliver_without_agent =
// false and no systemd, sendmail starts no background delivery, and
// install does not say it does: it says that mail waits for homepost
// agent or homepost flush, and points at the crontab line, which then
// starts the agent.
func TestNextStepsNoBackgroundDelivery(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("SKIP: make is not installed")
	}
	t.Parallel()
	home := t.TempDir()
	cfg := filepath.Join(home, ".config", "homepost", "config.toml")
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	bindir := testenv.Binary(t)
	for _, c := range []struct {
		config string
		want   []string
		not    []string
	}{
		{"deliver_without_agent = false\n",
			[]string{"deliver_without_agent = false, so sendmail starts no background delivery", "until you start homepost agent", "run homepost flush", "homepost check --crontab prints"},
			[]string{"sendmail starts a background delivery itself"}},
		{"",
			[]string{"sendmail starts a background delivery itself after each message", "homepost check --crontab prints"},
			[]string{"deliver_without_agent"}},
	} {
		if err := os.WriteFile(cfg, []byte(c.config), 0o600); err != nil {
			t.Fatal(err)
		}
		out := makeCmd(t, userEnv(home, "PATH="+bindir+":/usr/bin:/bin"), "next-steps", "AGENT=none", "BINDIR="+bindir)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("config %q: no %q in:\n%s", c.config, w, out)
			}
		}
		for _, n := range c.not {
			if strings.Contains(out, n) {
				t.Errorf("config %q: %q is untrue, yet:\n%s", c.config, n, out)
			}
		}
	}
}

// TestNextStepsMissingName: a name that BINDIR lacks, found later on
// PATH, is not an order of PATH to change (BINDIR already comes first);
// install said "OTHER comes before BINDIR" and told to put BINDIR first.
func TestNextStepsMissingName(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("SKIP: make is not installed")
	}
	t.Parallel()
	home, other := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "mail"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := userEnv(home, "PATH=/opt/hp/bin:"+other+":/usr/bin:/bin")
	out := makeCmd(t, env, "next-steps", "AGENT=none", "BINDIR=/opt/hp/bin")
	if want := "mail runs " + other + "/mail, not homepost (/opt/hp/bin/mail: it does not exist)"; !strings.Contains(out, want) {
		t.Errorf("no %q in:\n%s", want, out)
	}
	if strings.Contains(out, "comes before") || strings.Contains(out, "first on your PATH") {
		t.Errorf("BINDIR comes first on PATH, yet install says to change its order:\n%s", out)
	}
}

// linkSystem runs mk/link-system.sh against a temporary root.
func linkSystem(t *testing.T, mode, bin, root string) (string, int) {
	cmd := exec.Command("sh", filepath.Join(repoRoot(), "mk", "link-system.sh"), mode, bin, root)
	out, err := cmd.CombinedOutput()
	code := 0
	if xe, ok := err.(*exec.ExitError); ok {
		code = xe.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestLinkSystem(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, "usr", "local", "bin", "homepost")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr", "sbin"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr", "bin"), 0o755)
	// Another mailer owns mailx, through a link.
	other := filepath.Join(root, "usr", "bin", "s-nail")
	os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755)
	os.Symlink(other, filepath.Join(root, "usr", "bin", "mailx"))

	out, code := linkSystem(t, "link", bin, root)
	if code != 1 {
		t.Errorf("exit %d with mailx owned by another program, want 1:\n%s", code, out)
	}
	if !strings.Contains(out, "refusing to replace "+root+"/usr/bin/mailx") || !strings.Contains(out, other) {
		t.Errorf("refusal does not name mailx and its owner:\n%s", out)
	}
	for _, n := range []string{"usr/sbin/sendmail", "usr/bin/mail"} {
		if target, err := os.Readlink(filepath.Join(root, n)); err != nil || target != bin {
			t.Errorf("%s -> %q, %v; want %s", n, target, err, bin)
		}
	}
	if target, _ := os.Readlink(filepath.Join(root, "usr/bin/mailx")); target != other {
		t.Errorf("mailx was replaced: -> %s", target)
	}

	// Again: ours are recognised, the other is still refused.
	out, _ = linkSystem(t, "link", bin, root)
	if !strings.Contains(out, root+"/usr/sbin/sendmail is homepost already") {
		t.Errorf("second run:\n%s", out)
	}

	// A regular file (an MTA installed by hand) is refused too.
	root2 := t.TempDir()
	os.MkdirAll(filepath.Join(root2, "usr", "sbin"), 0o755)
	os.WriteFile(filepath.Join(root2, "usr", "sbin", "sendmail"), []byte("elf"), 0o755)
	if out, code := linkSystem(t, "link", bin, root2); code != 1 || !strings.Contains(out, "refusing to replace "+root2+"/usr/sbin/sendmail") {
		t.Errorf("regular sendmail: exit %d:\n%s", code, out)
	}

	// unlink removes only our links.
	linkSystem(t, "unlink", bin, root)
	for _, n := range []string{"usr/sbin/sendmail", "usr/bin/mail"} {
		if _, err := os.Lstat(filepath.Join(root, n)); err == nil {
			t.Errorf("unlink left %s", n)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "usr/bin/mailx")); err != nil {
		t.Errorf("unlink removed the other mailer's link: %v", err)
	}
}

// /usr/lib/sendmail, the traditional path that some programs still run,
// is linked too where /usr/lib exists and nothing is there; unlink
// removes it only when it is homepost's link, not a link to
// /usr/sbin/sendmail that an MTA's package made, and link leaves another
// program's alone (naming it, and failing, as for /usr/sbin/sendmail).
func TestLinkSystemUsrLib(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, "usr", "local", "bin", "homepost")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	for _, d := range []string{"usr/sbin", "usr/bin", "usr/lib"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	lib := filepath.Join(root, "usr", "lib", "sendmail")
	if out, code := linkSystem(t, "link", bin, root); code != 0 || !strings.Contains(out, "linked "+lib+" -> "+bin) {
		t.Errorf("link: exit %d:\n%s", code, out)
	}
	if target, err := os.Readlink(lib); err != nil || target != bin {
		t.Errorf("usr/lib/sendmail -> %q, %v; want %s", target, err, bin)
	}
	if out, _ := linkSystem(t, "link", bin, root); !strings.Contains(out, lib+" is homepost already") {
		t.Errorf("second run:\n%s", out)
	}
	if out, _ := linkSystem(t, "unlink", bin, root); !strings.Contains(out, "removed "+lib) {
		t.Errorf("unlink:\n%s", out)
	}
	if _, err := os.Lstat(lib); err == nil {
		t.Errorf("unlink left usr/lib/sendmail")
	}

	// An MTA's link to ../sbin/sendmail: homepost's once
	// /usr/sbin/sendmail is, and kept by unlink.
	os.Symlink("../sbin/sendmail", lib)
	if out, code := linkSystem(t, "link", bin, root); code != 0 || !strings.Contains(out, lib+" is homepost already") {
		t.Errorf("link beside ../sbin/sendmail: exit %d:\n%s", code, out)
	}
	linkSystem(t, "unlink", bin, root)
	if target, err := os.Readlink(lib); err != nil || target != "../sbin/sendmail" {
		t.Errorf("unlink removed or changed the MTA's usr/lib/sendmail: -> %q, %v", target, err)
	}
	os.Remove(lib)

	// Another program's file is refused, and kept by unlink.
	os.WriteFile(lib, []byte("elf"), 0o755)
	if out, code := linkSystem(t, "link", bin, root); code != 1 || !strings.Contains(out, "refusing to replace "+lib) {
		t.Errorf("regular usr/lib/sendmail: exit %d:\n%s", code, out)
	}
	linkSystem(t, "unlink", bin, root)
	if b, err := os.ReadFile(lib); err != nil || string(b) != "elf" {
		t.Errorf("unlink touched another program's usr/lib/sendmail: %q, %v", b, err)
	}

	// Without /usr/lib, nothing is made there.
	root2 := t.TempDir()
	os.MkdirAll(filepath.Join(root2, "usr", "sbin"), 0o755)
	if out, code := linkSystem(t, "link", bin, root2); code != 0 || strings.Contains(out, "usr/lib") {
		t.Errorf("link without usr/lib: exit %d:\n%s", code, out)
	}
	if _, err := os.Lstat(filepath.Join(root2, "usr", "lib")); err == nil {
		t.Errorf("link created usr/lib")
	}
}

// TestInstallSystem runs make install-system and uninstall-system as
// root, into a temporary SYSTEM_PREFIX and with the system links made
// under a temporary root.
func TestInstallSystem(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("SKIP: install-system needs root")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("SKIP: make is not installed")
	}
	tmp := t.TempDir()
	sys := filepath.Join(tmp, "usr", "local")
	root := filepath.Join(tmp, "root")
	home := filepath.Join(tmp, "home")
	os.MkdirAll(home, 0o755)
	os.MkdirAll(filepath.Join(root, "usr", "bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr", "lib"), 0o755)
	// mailx belongs to another mailer here.
	os.Symlink("/usr/bin/s-nail", filepath.Join(root, "usr", "bin", "mailx"))
	env := userEnv(home, goEnv(t)...)
	vars := []string{"SYSTEM_PREFIX=" + sys, "LINK_ROOT=" + root, "HOME=" + home}

	cmd := exec.Command("make", append([]string{"--no-print-directory", "install-system"}, vars...)...)
	cmd.Dir, cmd.Env = repoRoot(), env
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("install-system succeeded although mailx is another mailer's:\n%s", out)
	}
	if !strings.Contains(string(out), "refusing to replace "+root+"/usr/bin/mailx") {
		t.Errorf("no refusal naming mailx:\n%s", out)
	}
	if strings.Contains(string(out), "no systemd user session") || strings.Contains(string(out), "Next steps") {
		t.Errorf("install-system speaks of root's own session, or of next steps after failing:\n%s", out)
	}
	bin := filepath.Join(sys, "bin", "homepost")
	for n, want := range map[string]string{"usr/sbin/sendmail": filepath.Join(sys, "bin", "sendmail"), "usr/lib/sendmail": filepath.Join(sys, "bin", "sendmail"), "usr/bin/mail": bin} {
		if target, err := os.Readlink(filepath.Join(root, n)); err != nil || target != want {
			t.Errorf("%s -> %q, %v; want %s", n, target, err, want)
		}
	}
	for _, f := range []string{"bin/homepost", "bin/sendmail", "lib/systemd/user/homepost.service", "share/doc/homepost/config.example.toml"} {
		if _, err := os.Lstat(filepath.Join(sys, f)); err != nil {
			t.Errorf("install-system did not write %s: %v", f, err)
		}
	}
	if left := tree(t, filepath.Join(home, ".config", "systemd")); len(left) > 0 {
		t.Errorf("install-system wrote units into root's home: %v", left)
	}

	cmd = exec.Command("make", append([]string{"--no-print-directory", "uninstall-system"}, vars...)...)
	cmd.Dir, cmd.Env = repoRoot(), env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("uninstall-system: %v\n%s", err, out)
	}
	if left := tree(t, sys); len(left) > 0 {
		t.Errorf("uninstall-system left %v", left)
	}
	if left := tree(t, root); !slices.Equal(left, []string{"usr/bin/mailx"}) {
		t.Errorf("after uninstall-system the root holds %v; want only the other mailer's mailx", left)
	}
}
