package clients

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// git send-email with homepost's sendmail as its --smtp-server: the patch
// arrives in ~/Maildir with its Subject and its body byte for byte, and
// "git am" of that Maildir recreates the commit's tree.
func TestGitSendEmail(t *testing.T) {
	t.Parallel()
	need(t, "git")
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skipf("SKIP: git --exec-path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(execPath)), "git-send-email")); err != nil {
		t.Skip("SKIP: git send-email (package git-email) not installed")
	}
	e := newEnv(t, "")

	git := func(dir, stdin string, args ...string) (string, string, error) {
		t.Helper()
		c := e.command("git", args...)
		c.Dir = dir
		c.Env = append(c.Env, "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=Ada Tester", "GIT_AUTHOR_EMAIL=ada@example.org",
			"GIT_COMMITTER_NAME=Ada Tester", "GIT_COMMITTER_EMAIL=ada@example.org")
		return e.try(c, stdin)
	}
	mustGit := func(dir, stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := git(dir, stdin, args...)
		if err != nil {
			t.Fatalf("git %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}

	repo := e.path("repo")
	os.MkdirAll(repo, 0o755)
	mustGit(repo, "", "init", "-q")
	os.WriteFile(filepath.Join(repo, "notes.txt"), []byte("alpha\nbeta\n\tindented\n"), 0o644)
	mustGit(repo, "", "add", "notes.txt")
	mustGit(repo, "", "commit", "-q", "-m", "start")
	// A change whose mail holds what a transport must not touch: trailing
	// blanks, a tab, 8-bit UTF-8, a line that is only a dot (sendmail -i),
	// a line that starts with "From ", a long line.
	long := strings.Repeat("0123456789", 90) // under 998: longer lines make git send-email re-encode
	os.WriteFile(filepath.Join(repo, "notes.txt"), []byte("alpha\ngamma  \n\tindented\nnaïve café ✓\n.\n"+long+"\n"), 0o644)
	msg := "notes: replace beta\n\nFrom now on beta is gamma.\n.\nA dot line above must not end the mail.\n"
	mustGit(repo, msg, "commit", "-q", "-a", "--cleanup=verbatim", "-F", "-")
	tree := strings.TrimSpace(mustGit(repo, "", "rev-parse", "HEAD^{tree}"))
	patchName := strings.TrimSpace(mustGit(repo, "", "format-patch", "-1", "-o", e.home))
	patch, err := os.ReadFile(patchName)
	if err != nil {
		t.Fatal(err)
	}

	// git send-email refuses "someone@localhost" (its address check wants
	// a dot in the domain); localhost.localdomain is one of homepost's
	// local domains.
	out, errOut, err := git(repo, "", "send-email", "--smtp-server="+bin("sendmail"),
		"--to=someone@localhost.localdomain", "--confirm=never", "--suppress-cc=all", patchName)
	if err != nil {
		if strings.Contains(errOut, "module is not here") {
			t.Skipf("SKIP: git send-email lacks its Perl modules (libmailtools-perl not installed):\n%s", errOut)
		}
		t.Fatalf("git send-email: %v\n%s%s", err, out, errOut)
	}
	e.deliver()

	msgs := e.maildir()
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
	if got := m.header("X-Original-To"); got != "someone@localhost.localdomain" {
		t.Errorf("X-Original-To: %q", got)
	}
	_, wantBody, _ := bytes.Cut(patch, []byte("\n\n"))
	if !bytes.Equal(m.body(), wantBody) {
		t.Errorf("the body is not the patch's body byte for byte\nstored:\n%s\npatch:\n%s", m.body(), wantBody)
	}

	// The maintainer's side: git am of the Maildir applies the patch.
	clone := e.path("clone")
	mustGit(e.home, "", "clone", "-q", repo, clone)
	mustGit(clone, "", "switch", "-q", "-c", "base", "HEAD~1")
	mustGit(clone, "", "am", "-q", e.path("Maildir"))
	if got := strings.TrimSpace(mustGit(clone, "", "rev-parse", "HEAD^{tree}")); got != tree {
		t.Errorf("git am of ~/Maildir gives tree %s, the commit has %s", got, tree)
	}
	if got := mustGit(clone, "", "log", "-1", "--format=%B"); got != msg+"\n" {
		t.Errorf("git am: commit message %q, want %q", got, msg+"\n")
	}
}
