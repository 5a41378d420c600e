package review

import (
	"os"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// ~/Maildir as a symbolic link to a directory that does not exist (a
// data disk not mounted yet): the mail waits, its reason says that the
// Maildir is a link to nothing, and check FAILs the store instead of
// saying that it "will be created".
func TestStoreLinkToNothing(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	target := e.Path("data", "real", "Maildir")
	os.MkdirAll(e.Path("data", "real"), 0o700)
	if err := os.Symlink(target, e.Path("Maildir")); err != nil {
		t.Fatal(err)
	}
	e.MustSend("Subject: sl1\n\nb\n", "root")
	e.Once()
	q, _, _ := e.Run(nil, "mailq")
	// mailq wraps a long reason at spaces: read it with its lines joined.
	if !strings.Contains(strings.Join(strings.Fields(q), " "), e.Path("Maildir")+" is a symbolic link to "+target+", which does not exist") {
		t.Errorf("mailq's reason:\n%s", q)
	}
	out, _, code := e.Run(nil, "homepost", "check")
	if code == 0 || !strings.Contains(out, "FAIL store: ") || !strings.Contains(out, "symbolic link to "+target) {
		t.Errorf("check: exit %d\n%s", code, out)
	}
	os.MkdirAll(target, 0o700)
	e.Run(nil, "homepost", "flush")
	if n := len(testenv.Files(target + "/new")); n != 1 {
		t.Errorf("after the target is made: %d message(s) in it", n)
	}
}
