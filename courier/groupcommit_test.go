package courier

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"homepost/safeio"
)

// Group commit, seen in the system calls (under strace): a batch of
// copies into two Maildirs makes every copy durable before its rename
// (one syncfs for all, or an fsync each where syncfs is not used), then
// fsyncs each new/ once, after the last rename into it.
func TestMaildirGroupCommit(t *testing.T) {
	if base := os.Getenv("COURIER_TEST_MAILDIRS"); base != "" {
		var copies []*Copy
		for i := range 6 {
			dir := filepath.Join(base, fmt.Sprint("m", i%2)) + "/"
			copies = append(copies, newCopy(dir, fmt.Sprintf("1.Q1R%d.box", i), "bob@x", "alice@box", "x\n"))
		}
		for _, r := range (Maildir{}).Deliver(context.Background(), copies) {
			if r.Text() != "2.0.0 delivered to maildir" {
				t.Fatal(r.Text())
			}
		}
		return
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed: group commit is not checked")
	}
	base := t.TempDir()
	for _, m := range []string{"m0", "m1"} {
		if err := os.MkdirAll(filepath.Join(base, m, "new"), 0o700); err != nil {
			t.Fatal(err)
		}
		os.Mkdir(filepath.Join(base, m, "tmp"), 0o700)
		os.Mkdir(filepath.Join(base, m, "cur"), 0o700)
	}
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-qq", "-y", "-o", trace, "-e", "trace=openat,fsync,syncfs,rename,renameat,renameat2",
		os.Args[0], "-test.run=^TestMaildirGroupCommit$", "-test.count=1")
	cmd.Env = append(os.Environ(), "COURIER_TEST_MAILDIRS="+base)
	if out, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(strings.ToLower(string(out)), "ptrace") {
			t.Skipf("strace cannot trace here: %s", out)
		}
		t.Fatalf("%v: %s", err, out)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	// -y prints each descriptor with its path: a call split over two
	// lines by another thread's ("<unfinished ...>") keeps its path.
	fsync := regexp.MustCompile(`^\d+ +fsync\(\d+<([^>]+)>`)
	syncfs := regexp.MustCompile(`^\d+ +syncfs\(\d+<([^>]+)>.*= 0`)
	rename := regexp.MustCompile(`rename(?:at2?)?\((?:AT_FDCWD(?:<[^>]*>)?, )?"[^"]+", (?:AT_FDCWD(?:<[^>]*>)?, )?"([^"]+)"`)
	var steps []string
	for _, line := range strings.Split(string(b), "\n") {
		if m := syncfs.FindStringSubmatch(line); m != nil && strings.HasPrefix(m[1], base+"/") {
			steps = append(steps, "syncfs")
		}
		if m := fsync.FindStringSubmatch(line); m != nil && strings.HasPrefix(m[1], base+"/") {
			steps = append(steps, "fsync "+strings.TrimPrefix(m[1], base+"/"))
		}
		if m := rename.FindStringSubmatch(line); m != nil && strings.HasPrefix(m[1], base) {
			steps = append(steps, "rename "+strings.TrimPrefix(m[1], base+"/"))
		}
	}
	// The copies are written at the same time, so their steps
	// interleave; what must hold is each copy's own order (its fsync
	// before its rename) and one fsync of each new/, after every rename.
	at := map[string]int{}
	for n, st := range steps {
		if _, dup := at[st]; dup {
			t.Fatalf("%s twice in:\n%s", st, strings.Join(steps, "\n"))
		}
		at[st] = n
	}
	lastRename := -1
	for i := range 6 {
		name := fmt.Sprintf("1.Q1R%d.box", i)
		f, okf := at[fmt.Sprintf("fsync m%d/tmp/%s", i%2, name)]
		if n, ok := at["syncfs"]; ok {
			f, okf = n, true
		}
		r, okr := at[fmt.Sprintf("rename m%d/new/%s", i%2, name)]
		if !okf || !okr || f > r {
			t.Fatalf("copy %s: not fsynced before its rename:\n%s", name, strings.Join(steps, "\n"))
		}
		lastRename = max(lastRename, r)
	}
	for _, d := range []string{"fsync m0/new", "fsync m1/new"} {
		if n, ok := at[d]; !ok || n < lastRename {
			t.Fatalf("%s missing or before a rename:\n%s", d, strings.Join(steps, "\n"))
		}
	}
	want := 14 // six fsyncs, six renames, two fsyncs of new/
	if n, ok := at["syncfs"]; ok {
		want = 9 // one syncfs instead of six fsyncs
		if strings.Contains(safeio.Explain(base), "one more flush") {
			// ext4 without a journal: the syncfs's last flush, an
			// fsync of one of the copies right after it.
			if n+1 >= len(steps) || !strings.HasPrefix(steps[n+1], "fsync ") {
				t.Fatalf("no fsync right after the syncfs:\n%s", strings.Join(steps, "\n"))
			}
			want = 10
		}
	}
	if len(steps) != want {
		t.Fatalf("%d steps, want %d:\n%s", len(steps), want, strings.Join(steps, "\n"))
	}
}
