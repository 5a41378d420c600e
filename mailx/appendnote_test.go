package mailx

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A note of an append that a crash left behind is resolved when mail
// next starts: a copy cut off at the end of the file is cut back; a
// whole copy, a file another program appended to since, and a file
// replaced since are left as they are. Every note goes once resolved.
// The notes are made by hand here, from a copy that a real save made;
// test/sweep's TestMailAppendLeavesNoCutOffCopy kills mail in the
// middle of its append.
func TestAppendNoteResolvedAtStart(t *testing.T) {
	for _, c := range []struct {
		name string
		// after makes the state a crash left from the whole copy;
		// it returns what the file must hold after mail started.
		after func(t *testing.T, path string, whole []byte) string
		warn  string
	}{
		{"cut off", func(t *testing.T, path string, whole []byte) string {
			os.Truncate(path, int64(len(whole)/2))
			return ""
		}, "cut off at byte 0 a partial copy"},
		{"whole", func(t *testing.T, path string, whole []byte) string {
			return string(whole)
		}, ""},
		{"appended to since", func(t *testing.T, path string, whole []byte) string {
			os.Truncate(path, int64(len(whole)/2))
			appendFixtures(t, path, 7, 7)
			b, _ := os.ReadFile(path)
			return string(b)
		}, "a partial copy may remain there"},
		{"replaced", func(t *testing.T, path string, whole []byte) string {
			// A rewrite by rename, as mail's and mutt's: a new
			// file (a new inode) in its place.
			half := whole[:len(whole)/2]
			os.WriteFile(path+".new", half, 0o600)
			os.Rename(path+".new", path)
			return string(half)
		}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHome(t)
			deliverFixtures(t, h.path("Maildir"), 2)
			saved := h.path("saved")
			if _, stderr, code := h.mail(t, "copy 1 "+saved+"\nx\n"); code != 0 {
				t.Fatalf("copy: exit %d: %s", code, stderr)
			}
			notes := h.path(".local/state/homepost/" + noteDir)
			if left, _ := os.ReadDir(notes); len(left) != 0 {
				t.Fatalf("a note is left after a whole append: %v", left)
			}
			whole, err := os.ReadFile(saved)
			if err != nil {
				t.Fatal(err)
			}
			writeNote(t, notes, saved, whole)
			want := c.after(t, saved, whole)
			_, stderr, _ := h.mail(t, "", "-e")
			if c.warn == "" && stderr != "" || !strings.Contains(stderr, c.warn) {
				t.Errorf("mail -e said %q, want %q", stderr, c.warn)
			}
			got, _ := os.ReadFile(saved)
			if string(got) != want {
				t.Errorf("%s holds:\n%s\nwant:\n%s", saved, got, want)
			}
			if left, _ := os.ReadDir(notes); len(left) != 0 {
				t.Errorf("notes left after mail started: %v", left)
			}
		})
	}
}

// writeNote writes the note an append of whole, at offset 0 of path,
// made before it began.
func writeNote(t *testing.T, dir, path string, whole []byte) {
	t.Helper()
	first, _, _ := strings.Cut(string(whole), "\n")
	fields := strings.Fields(strings.TrimPrefix(first, "From "))
	when, err := time.Parse("Mon Jan _2 15:04:05 2006", strings.Join(fields[1:], " "))
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(whole)
	b, err := json.Marshal(appendNote{Path: path, Dev: uint64(st.Dev), Ino: st.Ino, Sender: fields[0],
		Len: int64(len(whole)), Sum: fmt.Sprintf("%x", sum), Time: when})
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o700)
	if err := os.WriteFile(filepath.Join(dir, "1.1.1"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
