package clients

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// gitWorld is a repository in the temporary HOME with one commit to send
// as a patch.
type gitWorld struct {
	e     *env
	repo  string
	tree  string // the tree of the commit sent
	msg   string // its message
	patch string // the format-patch file
}

// needSendEmail skips the test unless git send-email is installed.
func needSendEmail(t *testing.T) {
	t.Helper()
	need(t, "git")
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skipf("SKIP: git --exec-path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(execPath)), "git-send-email")); err != nil {
		t.Skip("SKIP: git send-email (package git-email) not installed")
	}
}

func (g *gitWorld) git(dir, stdin string, args ...string) (string, string, error) {
	g.e.t.Helper()
	c := g.e.command("git", args...)
	c.Dir = dir
	c.Env = append(c.Env, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Ada Tester", "GIT_AUTHOR_EMAIL=ada@example.org",
		"GIT_COMMITTER_NAME=Ada Tester", "GIT_COMMITTER_EMAIL=ada@example.org")
	return g.e.try(c, stdin)
}

func (g *gitWorld) mustGit(dir, stdin string, args ...string) string {
	g.e.t.Helper()
	out, errOut, err := g.git(dir, stdin, args...)
	if err != nil {
		g.e.t.Fatalf("git %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// newGitWorld makes the repository and the patch. The change holds what a
// transport must not touch: trailing blanks, a tab, 8-bit UTF-8, a line
// that is only a dot (sendmail -i), a line that starts with "From ", a
// long line.
func newGitWorld(e *env) *gitWorld {
	e.t.Helper()
	g := &gitWorld{e: e, repo: e.path("repo")}
	os.MkdirAll(g.repo, 0o755)
	g.mustGit(g.repo, "", "init", "-q")
	os.WriteFile(filepath.Join(g.repo, "notes.txt"), []byte("alpha\nbeta\n\tindented\n"), 0o644)
	g.mustGit(g.repo, "", "add", "notes.txt")
	g.mustGit(g.repo, "", "commit", "-q", "-m", "start")
	long := strings.Repeat("0123456789", 90) // under 998: longer lines make git send-email re-encode
	os.WriteFile(filepath.Join(g.repo, "notes.txt"), []byte("alpha\ngamma  \n\tindented\nnaïve café ✓\n.\n"+long+"\n"), 0o644)
	g.msg = "notes: replace beta\n\nFrom now on beta is gamma.\n.\nA dot line above must not end the mail.\n"
	g.mustGit(g.repo, g.msg, "commit", "-q", "-a", "--cleanup=verbatim", "-F", "-")
	g.tree = strings.TrimSpace(g.mustGit(g.repo, "", "rev-parse", "HEAD^{tree}"))
	g.patch = strings.TrimSpace(g.mustGit(g.repo, "", "format-patch", "-1", "-o", e.home))
	return g
}

// sendEmail runs git send-email on the patch with more options; what
// describes the setup in a failure.
func (g *gitWorld) sendEmail(what string, opts ...string) {
	g.e.t.Helper()
	args := append(append([]string{"send-email"}, opts...), "--confirm=never", "--suppress-cc=all", g.patch)
	out, errOut, err := g.git(g.repo, "", args...)
	if err != nil {
		if strings.Contains(errOut, "module is not here") {
			g.e.t.Skipf("SKIP: git send-email lacks its Perl modules (libmailtools-perl not installed):\n%s", errOut)
		}
		g.e.t.Fatalf("%s: git %s: %v\n%s%s", what, strings.Join(args, " "), err, out, errOut)
	}
}

// check reads ~/Maildir: the patch is there intact, with originalTo as
// X-Original-To ("" for none), and git am of the Maildir recreates the
// commit.
func (g *gitWorld) check(originalTo string) {
	t := g.e.t
	t.Helper()
	patch, err := os.ReadFile(g.patch)
	if err != nil {
		t.Fatal(err)
	}
	msgs := g.e.maildir()
	if len(msgs) != 1 {
		t.Fatalf("want 1 message in ~/Maildir, got %d", len(msgs))
	}
	m := msgs[0]
	if got := m.header("Subject"); got != "[PATCH] notes: replace beta" {
		t.Errorf("Subject: %q", got)
	}
	if got := m.header("From"); got != "Ada Tester <ada@example.org>" {
		t.Errorf("From: %q", got)
	}
	if got := m.header("X-Original-To"); got != originalTo {
		t.Errorf("X-Original-To: %q, want %q", got, originalTo)
	}
	_, wantBody, _ := bytes.Cut(patch, []byte("\n\n"))
	if !bytes.Equal(m.body(), wantBody) {
		t.Errorf("the body is not the patch's body byte for byte\nstored:\n%s\npatch:\n%s", m.body(), wantBody)
	}

	// The maintainer's side: git am of the Maildir applies the patch.
	clone := g.e.path("clone")
	g.mustGit(g.e.home, "", "clone", "-q", g.repo, clone)
	g.mustGit(clone, "", "switch", "-q", "-c", "base", "HEAD~1")
	g.mustGit(clone, "", "am", "-q", g.e.path("Maildir"))
	if got := strings.TrimSpace(g.mustGit(clone, "", "rev-parse", "HEAD^{tree}")); got != g.tree {
		t.Errorf("git am of ~/Maildir gives tree %s, the commit has %s", got, g.tree)
	}
	if got := g.mustGit(clone, "", "log", "-1", "--format=%B"); got != g.msg+"\n" {
		t.Errorf("git am: commit message %q, want %q", got, g.msg+"\n")
	}
}

// git send-email with homepost's sendmail as its --smtp-server: the patch
// arrives in ~/Maildir with its Subject and its body byte for byte, and
// "git am" of that Maildir recreates the commit's tree.
func TestGitSendEmail(t *testing.T) {
	t.Parallel()
	needSendEmail(t)
	e := newEnv(t, "")
	g := newGitWorld(e)
	// git send-email refuses "root@localhost" (its address check wants
	// a dot in the domain); localhost.localdomain is one of homepost's
	// local domains. The name must be a login or an alias: any other
	// local name bounces as unknown.
	g.sendEmail("--smtp-server", "--smtp-server="+bin("sendmail"), "--to=root@localhost.localdomain")
	e.deliver()
	g.check("root@localhost.localdomain")
}

// git send-email set up once in ~/.gitconfig, with homepost installed in
// ~/.local/bin as "make install" does: by sendemail.smtpServer (an
// absolute path: git takes anything else for a host name), by
// sendemail.sendmailCmd (run by the shell, so "~" works), and as README.md
// says it.
func TestGitSendEmailConfigured(t *testing.T) {
	needSendEmail(t)
	for _, tc := range []struct{ name, config string }{
		{"smtpServer", "smtpServer = HOME/.local/bin/sendmail"},
		{"sendmailCmd", "sendmailCmd = ~/.local/bin/sendmail -i"},
		{"README", readmeRecipe(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "")
			g := newGitWorld(e)
			if tc.name == "sendmailCmd" {
				// sendemail.sendmailCmd is new in git 2.33.
				if out, _, _ := g.git(g.repo, "", "send-email", "-h"); !strings.Contains(out, "--sendmail-cmd") {
					t.Skip("SKIP: this git send-email has no sendmailCmd (git 2.33 or later)")
				}
			}
			if err := os.MkdirAll(e.path(".local", "bin"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, l := range []string{"homepost", "sendmail", "mail", "mailq"} {
				if err := os.Symlink(bin("homepost"), e.path(".local", "bin", l)); err != nil {
					t.Fatal(err)
				}
			}
			e.writeFile(".gitconfig", "[sendemail]\n\t"+strings.ReplaceAll(tc.config, "HOME", e.home)+"\n")
			g.sendEmail("~/.gitconfig [sendemail] "+tc.config, "--to=root")
			e.deliver()
			g.check("")
		})
	}
}

// A series with a cover letter, threaded as git send-email threads it:
// every mail arrives with its threading headers, and git am of the
// patches in series order rebuilds the branch.
func TestGitSendEmailSeries(t *testing.T) {
	t.Parallel()
	needSendEmail(t)
	e := newEnv(t, "")
	g := &gitWorld{e: e, repo: e.path("repo")}
	os.MkdirAll(g.repo, 0o755)
	g.mustGit(g.repo, "", "init", "-q")
	os.WriteFile(filepath.Join(g.repo, "a.txt"), []byte("0\n"), 0o644)
	g.mustGit(g.repo, "", "add", "a.txt")
	g.mustGit(g.repo, "", "commit", "-q", "-m", "base")
	for i := 1; i <= 3; i++ {
		os.WriteFile(filepath.Join(g.repo, "a.txt"), []byte(strings.Repeat("line\n", i)), 0o644)
		g.mustGit(g.repo, "", "commit", "-q", "-a", "-m", "step "+string(rune('0'+i)))
	}
	tree := strings.TrimSpace(g.mustGit(g.repo, "", "rev-parse", "HEAD^{tree}"))
	dir := e.path("series")
	g.mustGit(g.repo, "", "format-patch", "-q", "--cover-letter", "-3", "-o", dir)
	coverFile := filepath.Join(dir, "0000-cover-letter.patch")
	b, err := os.ReadFile(coverFile)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("*** SUBJECT HERE ***"), []byte("three steps"), 1)
	b = bytes.Replace(b, []byte("*** BLURB HERE ***"), []byte("Three small steps, one per patch."), 1)
	os.WriteFile(coverFile, b, 0o644)
	g.patch = dir
	g.sendEmail("a series", "--smtp-server="+bin("sendmail"), "--to=root", "--thread", "--no-chain-reply-to")
	e.deliver()

	msgs := e.maildir()
	if len(msgs) != 4 {
		t.Fatalf("want 4 messages (cover letter and 3 patches), got %d", len(msgs))
	}
	cover := bySubject(t, msgs, "[PATCH 0/3] three steps")
	coverID := cover.header("Message-ID")
	clone := e.path("clone")
	g.mustGit(e.home, "", "clone", "-q", g.repo, clone)
	g.mustGit(clone, "", "switch", "-q", "-c", "base", "HEAD~3")
	for i := 1; i <= 3; i++ {
		p := bySubject(t, msgs, "[PATCH "+string(rune('0'+i))+"/3] step "+string(rune('0'+i)))
		if p.header("In-Reply-To") != coverID || !strings.Contains(p.header("References"), coverID) {
			t.Errorf("patch %d: In-Reply-To %q, References %q, want the cover letter's %q", i, p.header("In-Reply-To"), p.header("References"), coverID)
		}
		f := e.writeFile("patch"+string(rune('0'+i))+".eml", string(p.Raw))
		g.mustGit(clone, "", "am", "-q", f)
	}
	if got := strings.TrimSpace(g.mustGit(clone, "", "rev-parse", "HEAD^{tree}")); got != tree {
		t.Errorf("git am of the series gives tree %s, the branch has %s", got, tree)
	}
}

// readmeRecipe returns the git send-email setting that README.md gives,
// as a ~/.gitconfig line with $HOME written HOME.
func readmeRecipe(t *testing.T) string {
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`git config --global sendemail\.(\w+) "([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md gives no git config --global sendemail.… recipe")
	}
	return string(m[1]) + " = " + strings.ReplaceAll(string(m[2]), "$HOME", "HOME")
}
