package maildir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FindWhole finds a marked copy wherever a rewrite moved it, with the
// Status fields a reader added, and not a copy that differs in one byte.
func TestFindWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	when := time.Unix(1700000000, 0)
	body := "Subject: s\n\nFrom the start, a quoted line\nbody\n"
	hdr := []byte("Delivered-To: me@example.org\n")
	const other = "From x@y Thu Nov 14 22:13:20 2023\nSubject: x\n\nx\n\n"
	entry := "From a@example.org " + when.UTC().Format("Mon Jan _2 15:04:05 2006") + "\n" +
		"Delivered-To: me@example.org\nStatus: RO\nSubject: s\n\n>From the start, a quoted line\nbody\n"
	for _, c := range []struct {
		name, box string
		at        int64
		found     bool
	}{
		{"moved to the start, Status added", entry + "\n", 0, true},
		{"after another message", other + entry, int64(len(other)), true},
		{"a byte differs", strings.Replace(entry, "body", "bodY", 1), 0, false},
		{"cut off", entry[:len(entry)-6] + "\n\nFrom x@y Thu Nov 14 22:13:20 2023\n\nx\n", 0, false},
		{"another From time", strings.Replace(entry, "2023", "2024", 1), 0, false},
	} {
		if err := os.WriteFile(path, []byte(c.box), 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Mbox(path).LockForDelivery()
		if err != nil {
			t.Fatal(err)
		}
		at, found, err := l.FindWhole(Mark{Time: when}, "a@example.org", hdr, strings.NewReader(body))
		l.Unlock()
		if err != nil || found != c.found || found && at != c.at {
			t.Errorf("%s: at %d found %v err %v; want %d %v", c.name, at, found, err, c.at, c.found)
		}
	}
}

// FuzzFindWhole: no mbox makes the search panic.
func FuzzFindWhole(f *testing.F) {
	f.Add("From a@example.org Tue Nov 14 22:13:20 2023\nSubject: s\n\nbody\n", "Subject: s\n\nbody\n")
	f.Add("From \n\nFrom a\n:\n \n", "")
	f.Fuzz(func(t *testing.T, box, body string) {
		path := filepath.Join(t.TempDir(), "mbox")
		if err := os.WriteFile(path, []byte(box), 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Mbox(path).LockForDelivery()
		if err != nil {
			t.Skip(err)
		}
		defer l.Unlock()
		l.FindWhole(Mark{Time: time.Unix(1700000000, 0)}, "a@example.org", nil, strings.NewReader(body))
	})
}
