package mailx

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A mailbox mail may not write to (another user's archive, a file on
// a read-only mount) is said to be read-only when it is opened, as
// mailx says "[Read only]", and the commands whose changes quit would
// write are refused at once, as s-nail refuses them, instead of failing
// at quit with a temporary failure (exit 75) for a permanent condition.
// quit then changes nothing and exits 0.
func TestReadOnlyMboxSaidAtOpen(t *testing.T) {
	h := newHome(t)
	mbox := h.path("archive")
	var b strings.Builder
	for i := 1; i <= 2; i++ {
		_, hd, body := testMessage(i)
		b.WriteString("From user@example.org Sat Jan  2 08:00:00 2021\n" + hd + body + "\n")
	}
	if err := os.WriteFile(mbox, []byte(b.String()), 0o444); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(mbox)
	o, e, code := h.mailAsOther(t, "p 2\nd 1\nmb 2\nq\n", "-f", mbox)
	t.Logf("mail said:\n%s%s", o, e)
	if !strings.Contains(o, "[Read only]") {
		t.Errorf("the banner does not say the mailbox is read-only:\n%s", o)
	}
	for _, c := range []string{"delete", "mbox"} {
		if !strings.Contains(e, c+": cannot be used in a read-only mailbox") {
			t.Errorf("%s was not refused:\n%s", c, e)
		}
	}
	if code != 0 || strings.Contains(e, "permission denied") {
		t.Errorf("quit on a read-only mailbox: exit %d, %s", code, e)
	}
	if !strings.Contains(o, "Subject 2") {
		t.Errorf("p 2 did not print message 2:\n%s", o)
	}
	if after, _ := os.ReadFile(mbox); !bytes.Equal(before, after) {
		t.Errorf("the read-only mailbox changed:\n%s", after)
	}
}

// The same of a Maildir whose new/ and cur/ mail may not change.
func TestReadOnlyMaildirSaidAtOpen(t *testing.T) {
	h := newHome(t)
	md := h.path("archive")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	for i := 1; i <= 2; i++ {
		_, hd, b := testMessage(i)
		os.WriteFile(filepath.Join(md, "new", "170000000"+string(rune('0'+i))+".M1P1.host"), []byte(hd+b), 0o644)
	}
	os.Chmod(filepath.Join(md, "new"), 0o555)
	os.Chmod(filepath.Join(md, "cur"), 0o555)
	t.Cleanup(func() {
		os.Chmod(filepath.Join(md, "new"), 0o700)
		os.Chmod(filepath.Join(md, "cur"), 0o700)
	})
	o, e, code := h.mailAsOther(t, "p 1\nd 2\nq\n", "-f", md+"/")
	if !strings.Contains(o, "[Read only]") {
		t.Errorf("the banner does not say the Maildir is read-only:\n%s", o)
	}
	if !strings.Contains(e, "delete: cannot be used in a read-only mailbox") {
		t.Errorf("delete was not refused:\n%s", e)
	}
	if code != 0 || e != "homepost: mail: delete: cannot be used in a read-only mailbox\n" {
		t.Errorf("quit on a read-only Maildir: exit %d, %s", code, e)
	}
	if es, _ := os.ReadDir(filepath.Join(md, "new")); len(es) != 2 {
		t.Errorf("new/ holds %d files after quit, want 2", len(es))
	}
}

// mailAsOther runs "homepost mail -n ARGS" as a user who may not write
// the mailbox: as root, whom file modes do not stop, as nobody (uid
// 65534) with the HOME given to that user and the mailbox left root's;
// else as the caller.
func (h *home) mailAsOther(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if os.Geteuid() != 0 {
		return h.mail(t, stdin, args...)
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("SKIP: running as root and no setpriv to run mail as another user")
	}
	// A copy of the binary nobody may run.
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	bin := filepath.Join(dir, "homepost")
	src, err := os.Open(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	// The HOME nobody's, but for files of root's in it.
	os.Chmod(filepath.Dir(h.dir), 0o755)
	filepath.Walk(h.dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && (fi.Mode().Perm() == 0o444 || fi.Mode().Perm() == 0o555) {
			// Read-only for the caller: left root's.
			os.Chmod(p, fi.Mode().Perm()|0o200)
			return nil
		}
		if err == nil {
			os.Lchown(p, 65534, 65534)
		}
		return nil
	})
	cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin, "mail", "-n"}, args...)...)
	cmd.Env = h.env
	cmd.Dir = h.dir
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if syscall.Stat(h.dir, &st) == nil && st.Uid != 65534 {
		t.Fatalf("the HOME is not nobody's")
	}
	return o.String(), e.String(), code
}
