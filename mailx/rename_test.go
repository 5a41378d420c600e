package mailx

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// mailPaused runs "homepost mail -n ARGS", gives it first, waits until
// it has run it, calls between (another client at work while mail is
// open), then gives it then and returns what it printed.
func mailPaused(t *testing.T, h *home, args []string, first string, between func(), then string) string {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"mail", "-n"}, args...)...)
	cmd.Env = h.env
	cmd.Dir = h.dir
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	io.WriteString(stdin, first+"echo ready-for-the-other-client\n")
	var all strings.Builder
	for {
		l, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("mail: %s%q %v %s", all.String(), l, err, stderr.String())
		}
		if l == "ready-for-the-other-client\n" {
			break
		}
		all.WriteString(l)
	}
	between()
	io.WriteString(stdin, then)
	stdin.Close()
	rest, _ := io.ReadAll(out)
	cmd.Wait()
	all.Write(rest)
	return all.String() + stderr.String()
}

// maildirNames lists new/ and cur/ as "new/NAME" and "cur/NAME", sorted.
func maildirNames(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	for _, sub := range []string{"new", "cur"} {
		es, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			names = append(names, sub+"/"+e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// A message in new/ whose name already has an info part (mutt flags a
// new message by renaming it within new/ to NAME:2,F; Python writes
// such names too) moves to cur/NAME:2,FS: the unique part ends at the
// first colon (the qmail spec), and its flags are merged, sorted, not
// hidden behind a second ":2," that mutt, s-nail and Python would read
// instead of the user's flag.
func TestMaildirNewWithInfoMerged(t *testing.T) {
	h := newHome(t)
	md := h.path("Maildir")
	deliverFixtures(t, md, 2)
	names := maildirNames(t, md)
	keys := []string{strings.TrimPrefix(names[0], "new/"), strings.TrimPrefix(names[1], "new/")}
	os.Rename(filepath.Join(md, names[0]), filepath.Join(md, names[0]+":2,F"))
	os.Rename(filepath.Join(md, names[1]), filepath.Join(md, names[1]+":2,S"))
	out, stderr, code := h.mail(t, "p 1\np 2\nq\n")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, stderr)
	}
	got := maildirNames(t, md)
	want := []string{"cur/" + keys[0] + ":2,FS", "cur/" + keys[1] + ":2,S"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Maildir after reading both:\n%q\nwant\n%q", got, want)
	}
}

// Another client renames a message within new/ (mutt flags it: new/X
// becomes new/X:2,F) while mail has the Maildir open: mail's "d 1"
// still removes it, and its read mark still reaches the other one,
// found by the unique part of its name (as mutt does on sync).
func TestMaildirRenamedWithinNewDuringSession(t *testing.T) {
	h := newHome(t)
	md := h.path("Maildir")
	deliverFixtures(t, md, 2)
	names := maildirNames(t, md)
	keys := []string{strings.TrimPrefix(names[0], "new/"), strings.TrimPrefix(names[1], "new/")}
	out := mailPaused(t, h, nil, "p 2\n", func() {
		for _, n := range names {
			if err := os.Rename(filepath.Join(md, n), filepath.Join(md, n+":2,F")); err != nil {
				t.Fatal(err)
			}
		}
	}, "d 1\nq\n")
	got := maildirNames(t, md)
	want := []string{"cur/" + keys[1] + ":2,FS"}
	if !slices.Equal(got, want) {
		t.Errorf("Maildir after d 1, q:\n%q\nwant\n%q\nmail said:\n%s", got, want, out)
	}
	if !strings.Contains(out, "Held 1 message") {
		t.Errorf("mail said:\n%s", out)
	}
}

// A message another client removed while mail was open is reported,
// not silently taken for saved.
func TestMaildirRemovedDuringSessionReported(t *testing.T) {
	h := newHome(t)
	md := h.path("Maildir")
	deliverFixtures(t, md, 2)
	names := maildirNames(t, md)
	out := mailPaused(t, h, nil, "p 1\n", func() { os.Remove(filepath.Join(md, names[0])) }, "q\n")
	if !strings.Contains(out, "message 1: "+strings.TrimPrefix(names[0], "new/")+" is gone") {
		t.Errorf("mail said:\n%s", out)
	}
	// The count held is of the messages left.
	if !strings.Contains(out, "Held 1 message in") {
		t.Errorf("mail said:\n%s", out)
	}
}
