package mailx

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/maildir"
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
			writeNote(t, notes, saved, [][]byte{whole}, "")
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

// writeNote writes the note of appends of the copies, one after the
// other from offset 0 of path, made before the last one began; tail,
// when not "", is added after (a torn line).
func writeNote(t *testing.T, dir, path string, copies [][]byte, tail string) {
	t.Helper()
	dev, ino, err := maildir.PathID(path)
	if err != nil {
		t.Fatal(err)
	}
	head, err := json.Marshal(noteHead{Path: path, Dev: dev, Ino: ino})
	if err != nil {
		t.Fatal(err)
	}
	note := string(head) + "\n"
	off := 0
	for _, c := range copies {
		first, _, _ := strings.Cut(string(c), "\n")
		fields := strings.Fields(strings.TrimPrefix(first, "From "))
		when, err := time.Parse("Mon Jan _2 15:04:05 2006", strings.Join(fields[1:], " "))
		if err != nil {
			t.Fatal(err)
		}
		mark, err := json.Marshal(noteMark{Sender: fields[0], Off: int64(off), Len: int64(len(c)), Sum: fmt.Sprintf("%x", sha256.Sum256(c)), Time: when})
		if err != nil {
			t.Fatal(err)
		}
		note += string(mark) + "\n"
		off += len(c)
	}
	os.MkdirAll(dir, 0o700)
	if err := os.WriteFile(filepath.Join(dir, "1.1.1"), []byte(note+tail), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The messages of one save share a note, a mark a line: only the last
// copy can be cut off, and is cut back to where it began; a last line
// that a crash cut short is a mark whose copy never began.
func TestAppendNoteOfSeveralCopies(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 3)
	saved := h.path("saved")
	if _, stderr, code := h.mail(t, "copy 1-2 "+saved+"\nx\n"); code != 0 {
		t.Fatalf("copy: exit %d: %s", code, stderr)
	}
	whole, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(whole), "\nFrom user2@")
	if i < 0 {
		t.Fatalf("no second copy in %s:\n%s", saved, whole)
	}
	first, second := whole[:i+1], whole[i+1:]
	notes := h.path(".local/state/homepost/" + noteDir)
	for _, torn := range []string{"", `{"sender":"user3@exa`} {
		os.WriteFile(saved, whole, 0o600)
		writeNote(t, notes, saved, [][]byte{first, second}, torn)
		os.Truncate(saved, int64(len(first)+len(second)/2))
		_, stderr, _ := h.mail(t, "", "-e")
		if !strings.Contains(stderr, fmt.Sprintf("cut off at byte %d a partial copy", len(first))) {
			t.Errorf("torn line %q: mail -e said %q", torn, stderr)
		}
		if got, _ := os.ReadFile(saved); string(got) != string(first) {
			t.Errorf("torn line %q: %s holds:\n%s\nwant the first copy alone:\n%s", torn, saved, got, first)
		}
		if left, _ := os.ReadDir(notes); len(left) != 0 {
			t.Errorf("torn line %q: notes left after mail started: %v", torn, left)
		}
	}
}

// A note that is not one (a file put there by hand, a line damaged) is
// named with its file and line, and left alone: mail reads on.
func TestAppendNoteDamaged(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 1)
	notes := h.path(".local/state/homepost/" + noteDir)
	os.MkdirAll(notes, 0o700)
	bad := filepath.Join(notes, "1.1.1")
	os.WriteFile(bad, []byte(`{"path":"/x","dev":1,"ino":2}`+"\n"+`{"sender":"a","off":0,"len":1,"sha256":"zz"}`+"\n"), 0o600)
	out, stderr, code := h.mail(t, "", "-H")
	if code != 0 || !strings.Contains(out, "Subject 1") {
		t.Errorf("mail -H: exit %d: %s%s", code, out, stderr)
	}
	if want := bad + ":2: not a record of an append"; !strings.Contains(stderr, want) {
		t.Errorf("mail -H said %q, want %q", stderr, want)
	}
	if _, err := os.Stat(bad); err != nil {
		t.Errorf("the damaged note was removed: %v", err)
	}
}
