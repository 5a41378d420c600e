package install

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func needMake(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("SKIP: make is not installed")
	}
}

// goDir is the directory of the go command of the test run, for a PATH
// of make's own. These tests run make one at a time: each builds
// ./homepost in the repository.
func goDir(t *testing.T) string {
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("SKIP: no go command on PATH")
	}
	abs, _ := filepath.Abs(p)
	return filepath.Dir(abs)
}

// makeRun runs make in the repository and returns its output and error,
// without failing the test.
func makeRun(env []string, targets ...string) (string, error) {
	cmd := exec.Command("make", append([]string{"--no-print-directory"}, targets...)...)
	cmd.Dir = repoRoot()
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// homeInstall is a user whose HOME is a new directory: make installs
// into its ~/.local, as make install with no PREFIX does.
type homeInstall struct {
	home, bindir string
	env          []string
}

func newHome(t *testing.T, name string) *homeInstall {
	home := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	h := &homeInstall{home: home, bindir: filepath.Join(home, ".local", "bin")}
	h.env = userEnv(home, append(goEnv(t), "PATH="+goDir(t)+":/usr/bin:/bin")...)
	t.Cleanup(func() { stopAgent(filepath.Join(home, ".local", "state", "homepost", "agent.lock")) })
	return h
}

func (h *homeInstall) make(t *testing.T, targets ...string) string {
	t.Helper()
	return makeCmd(t, h.env, append(targets, "HOME="+h.home)...)
}

// config writes the user's homepost configuration.
func (h *homeInstall) config(t *testing.T, body string) {
	dir := filepath.Join(h.home, ".config", "homepost")
	os.MkdirAll(dir, 0o700)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// background is the pid of the background delivery that holds the agent
// lock of HOME, 0 when none.
func background(lock string) int {
	data, err := os.ReadFile(lock)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	pid, _ := strconv.Atoi(f[0])
	if pid <= 0 {
		return 0
	}
	cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if !strings.HasSuffix(string(cmd), "homepost\x00agent\x00--background\x00") {
		return 0
	}
	return pid
}

// stopAgent ends the background delivery of a test's HOME.
func stopAgent(lock string) {
	if pid := background(lock); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 100 && background(lock) == pid; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// awaitBackground waits up to five seconds for a background delivery
// other than not.
func awaitBackground(lock string, not int) int {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if pid := background(lock); pid > 0 && pid != not {
			return pid
		}
	}
	return 0
}

// make install must not replace what is not homepost's in ~/.local/bin
// (the user's own scripts, another MTA's link), and make uninstall must
// not remove it; the rest is installed and works.
func TestInstallKeepsOtherPrograms(t *testing.T) {
	needMake(t)
	h := newHome(t, "home")
	os.MkdirAll(h.bindir, 0o755)
	mine := map[string]string{
		"mail":  "#!/bin/sh\necho my own mail\n",
		"mailq": "#!/bin/sh\necho my own mailq\n",
	}
	for n, body := range mine {
		if err := os.WriteFile(filepath.Join(h.bindir, n), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/usr/bin/true", filepath.Join(h.bindir, "sendmail")); err != nil {
		t.Fatal(err)
	}
	kept := func(when string) {
		t.Helper()
		for n, body := range mine {
			if data, err := os.ReadFile(filepath.Join(h.bindir, n)); err != nil || string(data) != body {
				t.Errorf("%s: the user's %s is gone or changed (%d bytes, %v)", when, n, len(data), err)
			}
		}
		if target, err := os.Readlink(filepath.Join(h.bindir, "sendmail")); err != nil || target != "/usr/bin/true" {
			t.Errorf("%s: the user's sendmail link now -> %q, %v", when, target, err)
		}
	}

	for _, when := range []string{"make install", "make install again"} {
		out := h.make(t, "install")
		kept(when)
		for _, n := range []string{"mail", "mailq", "sendmail"} {
			line := ""
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, h.bindir+"/"+n+":") || strings.Contains(l, h.bindir+"/"+n+" ") {
					line = l
				}
			}
			if !strings.Contains(line, "not homepost's") {
				t.Errorf("%s does not say that it left %s/%s alone:\n%s", when, h.bindir, n, out)
			}
		}
		if !strings.Contains(out, "/usr/bin/true") {
			t.Errorf("%s does not say what sendmail is (a link to /usr/bin/true):\n%s", when, out)
		}
		// The rest is installed.
		for _, n := range []string{"mailx", "newaliases"} {
			if target, err := os.Readlink(filepath.Join(h.bindir, n)); err != nil || target != "homepost" {
				t.Errorf("%s: %s -> %q, %v; want homepost", when, n, target, err)
			}
		}
		if out, err := exec.Command(filepath.Join(h.bindir, "homepost"), "--version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "homepost ") {
			t.Errorf("%s: installed homepost --version: %v %s", when, err, out)
		}
		// send-mail runs homepost's sendmail even without the sendmail
		// program beside it.
		if target, err := os.Readlink(filepath.Join(h.bindir, "send-mail")); err != nil || target != "homepost" {
			t.Errorf("%s: send-mail -> %q, %v; want homepost (sendmail is not ours)", when, target, err)
		}
	}

	h.make(t, "uninstall")
	kept("make uninstall")
	left := tree(t, h.bindir)
	if strings.Join(left, " ") != "mail mailq sendmail" {
		t.Errorf("after make uninstall %s holds %v; want only the user's mail mailq sendmail", h.bindir, left)
	}
}

// A user's own homepost (not a homepost build) is not replaced: install
// fails, and links nothing to it.
func TestInstallRefusesForeignHomepost(t *testing.T) {
	needMake(t)
	h := newHome(t, "home")
	os.MkdirAll(h.bindir, 0o755)
	body := "#!/bin/sh\necho another homepost\n"
	os.WriteFile(filepath.Join(h.bindir, "homepost"), []byte(body), 0o755)
	out, err := makeRun(h.env, "install", "HOME="+h.home)
	if err == nil {
		t.Errorf("make install succeeded over a homepost that is not homepost's:\n%s", out)
	}
	if !strings.Contains(out, h.bindir+"/homepost") || !strings.Contains(out, "not homepost's") {
		t.Errorf("make install does not name the homepost it refuses:\n%s", out)
	}
	if data, _ := os.ReadFile(filepath.Join(h.bindir, "homepost")); string(data) != body {
		t.Errorf("the user's homepost was replaced")
	}
	if _, err := os.Lstat(filepath.Join(h.bindir, "mail")); err == nil {
		t.Errorf("make install linked mail to a homepost that is not homepost's")
	}
}

// Upgrading replaces every installed file and link at once: a mail,
// mailq or sendmail started meanwhile runs the old program or the new
// one, never a half-written file or none.
func TestUpgradeIsAtomic(t *testing.T) {
	needMake(t)
	h := newHome(t, "home")
	first := h.make(t, "install")
	names := []string{"homepost", "mail", "mailx", "mailq", "newaliases", "sendmail", "send-mail"}
	sizes := map[string]map[int64]bool{}
	record := func() {
		for _, n := range names {
			st, err := os.Stat(filepath.Join(h.bindir, n))
			if err != nil {
				t.Fatalf("after make install: %v", err)
			}
			if sizes[n] == nil {
				sizes[n] = map[int64]bool{}
			}
			sizes[n][st.Size()] = true
		}
	}
	record()

	type look struct {
		name string
		size int64
		err  string
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad []look
	looks := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			for _, n := range names {
				looks++
				st, err := os.Stat(filepath.Join(h.bindir, n))
				switch {
				case err != nil:
					bad = append(bad, look{n, 0, err.Error()})
				case st.Mode().Perm() != 0o755:
					bad = append(bad, look{n, 0, n + " is mode " + st.Mode().String()})
				case !sizes[n][st.Size()]:
					// Judged once the installs are done: the new build
					// may differ in size from the first (its version).
					bad = append(bad, look{n, st.Size(), ""})
				}
			}
		}
	}()
	var outs []string
	for range 4 {
		outs = append(outs, h.make(t, "install"))
	}
	stop.Store(true)
	wg.Wait()
	record()
	var real []string
	for _, b := range bad {
		switch {
		case b.err != "":
			real = append(real, b.err)
		case !sizes[b.name][b.size]:
			real = append(real, fmt.Sprintf("%s: %d bytes, neither the old program nor the new", b.name, b.size))
		}
	}
	if len(real) > 0 {
		if len(real) > 10 {
			real = append(real[:10], "...")
		}
		t.Errorf("during make install, %d of %d looks found an installed program missing or incomplete:\n%s", len(real), looks, strings.Join(real, "\n"))
	}
	// An upgrade over homepost's own files says nothing of them.
	for _, out := range append(outs, first) {
		if strings.Contains(out, "not homepost's") {
			t.Errorf("a plain install or upgrade warns:\n%s", out)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(h.bindir, ".*")); len(left) > 0 {
		t.Errorf("make install left temporary files: %v", left)
	}
}

// Without a systemd user session, sendmail's background delivery keeps
// running the binary it started with: make install ends it and starts
// the new one when mail waits, and make uninstall ends it and says where
// the mail waits.
func TestUpgradeRestartsBackgroundDelivery(t *testing.T) {
	needMake(t)
	h := newHome(t, "home")
	lock := filepath.Join(h.home, ".local", "state", "homepost", "agent.lock")
	out := h.make(t, "install")
	if !strings.Contains(out, "no systemd user session") {
		t.Skip("SKIP: a systemd user session runs for this HOME; the unit is restarted instead")
	}
	// No relay: mail to a remote address is deferred, and the
	// background delivery stays for it.
	h.config(t, "system_aliases = \"\"\n")
	sm := exec.Command(filepath.Join(h.bindir, "sendmail"), "-t", "-i")
	sm.Env = userEnv(h.home, "PATH="+h.bindir+":/usr/bin:/bin")
	sm.Dir = "/"
	sm.Stdin = strings.NewReader("To: someone@example.org\nSubject: deferred\n\nhello\n")
	if out, err := sm.CombinedOutput(); err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
	old := awaitBackground(lock, 0)
	if old == 0 {
		t.Fatal("sendmail started no background delivery")
	}

	out = h.make(t, "install")
	if _, err := os.Stat("/proc/" + strconv.Itoa(old)); err == nil {
		if cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(old) + "/cmdline"); len(cmd) > 0 {
			t.Errorf("make install left the old background delivery (pid %d) running:\n%s", old, out)
		}
	}
	if !strings.Contains(out, strconv.Itoa(old)) {
		t.Errorf("make install does not say it stopped the background delivery (pid %d):\n%s", old, out)
	}
	now := awaitBackground(lock, old)
	if now == 0 {
		t.Fatalf("make install did not start the new background delivery for the waiting mail:\n%s", out)
	}
	if exe, err := os.Readlink("/proc/" + strconv.Itoa(now) + "/exe"); err != nil || exe != filepath.Join(h.bindir, "homepost") {
		t.Errorf("the background delivery runs %q (%v), not the installed homepost", exe, err)
	}

	out = h.make(t, "uninstall")
	time.Sleep(100 * time.Millisecond)
	if cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(now) + "/cmdline"); len(cmd) > 0 {
		t.Errorf("make uninstall left the background delivery (pid %d) running:\n%s", now, out)
	}
	outbox := filepath.Join(h.home, ".local", "state", "homepost", "outbox")
	if !strings.Contains(out, outbox) || !strings.Contains(out, "1 message") {
		t.Errorf("make uninstall does not say that 1 message waits in %s:\n%s", outbox, out)
	}
}

// A HOME with a space in its name: every path in the recipes is quoted.
func TestInstallHomeWithSpace(t *testing.T) {
	needMake(t)
	h := newHome(t, "h 20")
	_, strayBefore := os.Lstat(filepath.Join(repoRoot(), "20"))
	out, err := makeRun(h.env, "install", "HOME="+h.home)
	if _, strayAfter := os.Lstat(filepath.Join(repoRoot(), "20")); strayAfter == nil && strayBefore != nil {
		os.RemoveAll(filepath.Join(repoRoot(), "20"))
		t.Errorf("make install created ./20 in the source tree")
	}
	if err != nil {
		t.Fatalf("make install with HOME %q: %v\n%s", h.home, err, out)
	}
	for _, n := range []string{"homepost", "sendmail", "mail", "mailq"} {
		if _, err := os.Stat(filepath.Join(h.bindir, n)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	unit, err := os.ReadFile(filepath.Join(h.home, ".config", "systemd", "user", "homepost.service"))
	if err != nil || !strings.Contains(string(unit), "ExecStart=\""+h.bindir+"/homepost\" agent\n") {
		t.Errorf("homepost.service does not quote the path in ExecStart (%v):\n%s", err, unit)
	}
	if out, err := makeRun(h.env, "uninstall", "HOME="+h.home); err != nil {
		t.Fatalf("make uninstall: %v\n%s", err, out)
	}
	if left := tree(t, filepath.Join(h.home, ".local")); len(left) > 0 {
		t.Errorf("make uninstall left %v", left)
	}
}

// make install says which of sendmail, mail and mailq run another
// program, because a directory before BINDIR on PATH has its own.
func TestInstallNamesWhatPathRuns(t *testing.T) {
	needMake(t)
	h := newHome(t, "home")
	other := filepath.Join(h.home, "other")
	os.MkdirAll(other, 0o755)
	for _, n := range []string{"mail", "sendmail"} {
		os.WriteFile(filepath.Join(other, n), []byte("#!/bin/sh\n"), 0o755)
	}
	env := userEnv(h.home, append(goEnv(t), "PATH="+other+":/usr/bin:/bin:"+goDir(t)+":"+h.bindir)...)
	out := makeCmd(t, env, "install", "HOME="+h.home)
	if strings.Contains(out, "now run homepost") {
		t.Errorf("make install says homepost runs, with another mail and sendmail first on PATH:\n%s", out)
	}
	for _, n := range []string{"mail", "sendmail"} {
		if !strings.Contains(out, n+" runs "+filepath.Join(other, n)) {
			t.Errorf("make install does not say that %s runs %s:\n%s", n, filepath.Join(other, n), out)
		}
	}
	if !strings.Contains(out, other+" comes before "+h.bindir) {
		t.Errorf("make install does not give the PATH order as the reason:\n%s", out)
	}
	if strings.Contains(out, "mailq runs") {
		t.Errorf("make install names mailq, which runs homepost:\n%s", out)
	}

	// BINDIR first: all of them run homepost.
	env = userEnv(h.home, append(goEnv(t), "PATH="+h.bindir+":"+other+":/usr/bin:/bin:"+goDir(t))...)
	out = makeCmd(t, env, "install", "HOME="+h.home)
	if !strings.Contains(out, h.bindir+" is on your PATH: sendmail, mail and mailq now run homepost") {
		t.Errorf("with BINDIR first on PATH:\n%s", out)
	}
}

// dpkg -S prints diversions before the package that owns the file: the
// owner named is the package, not "local diversion from".
func TestLinkSystemDiversion(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, "usr", "local", "bin", "homepost")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr", "sbin"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr", "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr", "bin", "mail"), []byte("elf"), 0o755)
	fake := filepath.Join(root, "fakebin")
	os.MkdirAll(fake, 0o755)
	os.WriteFile(filepath.Join(fake, "dpkg"), []byte(`#!/bin/sh
case "$2" in
*/usr/bin/mail) printf 'local diversion from: %s\nlocal diversion to: %s.orig\nbsd-mailx, mailutils: %s\n' "$2" "$2" "$2";;
*) echo "dpkg-query: no path found matching pattern $2" >&2; exit 1;;
esac
`), 0o755)
	cmd := exec.Command("sh", filepath.Join(repoRoot(), "mk", "link-system.sh"), "link", bin, root)
	cmd.Env = append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH"))
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), "package local") || !strings.Contains(string(out), "package bsd-mailx, mailutils") {
		t.Errorf("the package of a diverted file is not named:\n%s", out)
	}
	if !strings.Contains(string(out), "a local diversion (dpkg-divert)") || !strings.Contains(string(out), "original now at "+root+"/usr/bin/mail.orig") {
		t.Errorf("the diversion is not named:\n%s", out)
	}
}

// Without systemd, a listener named in [smtp] needs a running agent:
// install says how to start it and keep it started (check --crontab's
// line), and an agent started by hand keeps running the old homepost
// after an upgrade: install names it and how to restart it.
func TestUpgradeNamesHandStartedAgent(t *testing.T) {
	needMake(t)
	h := newHome(t, "home")
	h.config(t, "system_aliases = \"\"\n[smtp]\nsocket = \""+filepath.Join(h.home, "s", "smtp")+"\"\n")
	out := h.make(t, "install")
	if !strings.Contains(out, "no systemd user session") {
		t.Skip("SKIP: a systemd user session runs for this HOME; the unit is restarted instead")
	}
	if !strings.Contains(out, "names a listener") || !strings.Contains(out, "homepost check --crontab") {
		t.Errorf("make install does not say how to keep the listener started:\n%s", out)
	}
	if strings.Contains(out, "lingering") {
		t.Errorf("make install speaks of lingering on a host without systemd:\n%s", out)
	}
	agent := exec.Command(filepath.Join(h.bindir, "homepost"), "agent")
	agent.Env = userEnv(h.home, "PATH="+h.bindir+":/usr/bin:/bin")
	agent.Dir = "/"
	var log strings.Builder
	agent.Stderr = &log
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	lock := filepath.Join(h.home, ".local", "state", "homepost", "agent.lock")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(lock); strings.HasPrefix(string(b), strconv.Itoa(agent.Process.Pid)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not start")
		}
	}
	out = h.make(t, "install")
	want := fmt.Sprintf("an agent (pid %d) runs the old homepost: restart it: kill %d; then start it as you did (homepost agent)", agent.Process.Pid, agent.Process.Pid)
	if !strings.Contains(out, want) {
		t.Errorf("make install does not name the agent that runs the old homepost, want %q:\n%s", want, out)
	}
	if b, _ := os.ReadFile("/proc/" + strconv.Itoa(agent.Process.Pid) + "/cmdline"); len(b) == 0 {
		t.Errorf("make install ended the agent started by hand")
	}
}
