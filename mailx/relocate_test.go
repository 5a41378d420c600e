package mailx

import (
	"bytes"
	endian "encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"homepost/maildir"
)

// dirOpens counts the opens of directories by inotify (IN_OPEN on the
// directory itself): how often a reader reads them, whatever the load
// of the machine.
type dirOpens struct {
	fd    int
	watch map[int32]string
}

func watchDirOpens(t *testing.T, dirs ...string) *dirOpens {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	w := &dirOpens{fd: fd, watch: map[int32]string{}}
	for _, d := range dirs {
		wd, err := unix.InotifyAddWatch(fd, d, unix.IN_OPEN|unix.IN_ONLYDIR)
		if err != nil {
			t.Fatalf("inotify %s: %v", d, err)
		}
		w.watch[int32(wd)] = d
	}
	return w
}

// count returns the opens of the watched directories since the last
// count.
func (w *dirOpens) count(t *testing.T) int {
	t.Helper()
	n := 0
	buf := make([]byte, 64<<10)
	for {
		k, err := unix.Read(w.fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			return n
		}
		if err != nil {
			t.Fatalf("inotify read: %v", err)
		}
		for p := 0; p+unix.SizeofInotifyEvent <= k; {
			mask := endian.NativeEndian.Uint32(buf[p+4:])
			nameLen := int(endian.NativeEndian.Uint32(buf[p+12:]))
			if mask&unix.IN_Q_OVERFLOW != 0 {
				t.Fatal("inotify queue overflowed")
			}
			// An event of the directory itself has no name.
			if mask&unix.IN_OPEN != 0 && nameLen == 0 {
				n++
			}
			p += unix.SizeofInotifyEvent + nameLen
		}
	}
}

// makeMaildir delivers old messages into cur/ (seen) and fresh ones
// into new/ and returns the keys of the new ones.
func makeMaildir(t *testing.T, dir string, old, fresh int) []string {
	t.Helper()
	d := maildir.Dir(dir)
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := 1; i <= old+fresh; i++ {
		_, h, b := testMessage(i)
		key := fmt.Sprintf("%d.M%dP1.test", 1609577400+i, i)
		path := filepath.Join(dir, "new", key)
		if i <= old {
			path = filepath.Join(dir, "cur", key+":2,S")
		} else {
			keys = append(keys, key)
		}
		if err := os.WriteFile(path, []byte(h+b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// Quit with many messages that another program removed or renamed to
// flags no reader guesses (dovecot's keyword "a", mutt's trash T with
// R): each one cost three reads of the whole of new/ and cur/ (Find),
// and 4,000 gone among 24,000 took two minutes. Now new/ and cur/ are
// listed once for all of them. The work is counted in directory opens,
// which a loaded machine does not change.
func TestQuitManyGoneListsOnce(t *testing.T) {
	md := filepath.Join(t.TempDir(), "Maildir")
	keys := makeMaildir(t, md, 2000, 600)
	box, err := openBox("maildir", md, true)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	if len(box.Msgs) != 2600 {
		t.Fatalf("listed %d messages, want 2600", len(box.Msgs))
	}
	// Another reader removes 400 of the new ones and renames 200 to
	// cur/ under flags of its own.
	renamed := map[string]string{}
	for i, k := range keys {
		from := filepath.Join(md, "new", k)
		if i%3 == 2 {
			to := k + ":2,Sa"
			if i%2 == 0 {
				to = k + ":2,RST"
			}
			renamed[k] = to
			if err := os.Rename(from, filepath.Join(md, "cur", to)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.Remove(from); err != nil {
			t.Fatal(err)
		}
	}
	w := watchDirOpens(t, filepath.Join(md, "new"), filepath.Join(md, "cur"))
	var out bytes.Buffer
	s := testSession(box, &out)
	if err := s.applyMaildir(); err != nil {
		t.Fatal(err)
	}
	s.env.out.Flush()
	// A listing opens new/ and cur/, and the fsyncs open them again.
	if n := w.count(t); n > 6 {
		t.Errorf("quit opened new/ and cur/ %d times for 400 messages gone and 200 renamed, want a listing's", n)
	}
	if s.gone != 400 || strings.Count(out.String(), "is gone") != 400 {
		t.Errorf("gone %d, said %d times, want 400", s.gone, strings.Count(out.String(), "is gone"))
	}
	// The renamed ones keep the other reader's flags.
	for k, name := range renamed {
		if _, err := os.Stat(filepath.Join(md, "cur", name)); err != nil {
			t.Errorf("message %s renamed to %s by another reader: %v", k, name, err)
			break
		}
	}
	if cur, _ := os.ReadDir(filepath.Join(md, "cur")); len(cur) != 2200 {
		t.Errorf("cur/ holds %d messages, want 2200", len(cur))
	}
}

// A message that another reader moves from new/ to cur/ (dovecot on
// SELECT, mutt on open, another mail at quit) or renames within cur/
// between the listing and the read of its header is read at its new
// name, not left out as if it had been removed: mail -H showed 17,160
// of 20,000 messages while dovecot moved them. Only a message that is
// nowhere is left out.
func TestSummariesFollowMessagesRenamedAfterListing(t *testing.T) {
	md := filepath.Join(t.TempDir(), "Maildir")
	keys := makeMaildir(t, md, 3, 300)
	d := maildir.Dir(md)
	entries, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]Msg, len(entries))
	for i, e := range entries {
		msgs[i].setListed(e)
	}
	// Between the listing and the reads: every new one moves to cur/
	// (one flagged), an old one changes its flags, one is removed.
	for i, k := range keys {
		to := filepath.Join(md, "cur", k+":2,")
		if i == 7 {
			to += "F"
		}
		if err := os.Rename(filepath.Join(md, "new", k), to); err != nil {
			t.Fatal(err)
		}
	}
	oldKey := entries[1].Key()
	if err := os.Rename(d.Path(entries[1]), filepath.Join(md, "cur", oldKey+":2,RS")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(d.Path(entries[2])); err != nil {
		t.Fatal(err)
	}
	subjects := make([]string, len(msgs))
	readSummaries(d, msgs, func(i int, b []byte) string {
		subjects[i] = string(b)
		return string(b)
	})
	missing := 0
	for i := range msgs {
		m := &msgs[i]
		switch {
		case i == 2:
			if m.Size >= 0 {
				t.Errorf("message removed by another reader: size %d, want -1", m.Size)
			}
		case m.Size < 0:
			missing++
		case !strings.Contains(m.subject(), fmt.Sprintf("Subject %d", i+1)):
			t.Errorf("message %d read as %q", i+1, m.subject())
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d messages renamed after the listing were left out", missing, len(keys)+1)
	}
	if m := &msgs[1]; m.entry().File != oldKey+":2,RS" || !m.has(fSeen) {
		t.Errorf("renamed within cur/: at %q, seen %v", m.entry().File, m.has(fSeen))
	}
	if m := &msgs[3+7]; m.entry().File != keys[7]+":2,F" || m.entry().New || !m.has(fFlagged) || m.has(fNew) {
		t.Errorf("moved to cur/ flagged: at %+v, flags %b", m.entry(), m.flags)
	}
}

// A file that another reader moved from new/ to cur/ while List read
// the two can be listed at both names: it is read once, not shown twice.
func TestSummariesMovedFileListedTwiceReadOnce(t *testing.T) {
	md := filepath.Join(t.TempDir(), "Maildir")
	keys := makeMaildir(t, md, 0, 1)
	if err := os.Rename(filepath.Join(md, "new", keys[0]), filepath.Join(md, "cur", keys[0]+":2,")); err != nil {
		t.Fatal(err)
	}
	msgs := make([]Msg, 2)
	msgs[0].setListed(maildir.Entry{File: keys[0], New: true})
	msgs[1].setListed(maildir.Entry{File: keys[0] + ":2,"})
	readSummaries(maildir.Dir(md), msgs, func(_ int, b []byte) string { return string(b) })
	if msgs[0].Size >= 0 || msgs[1].Size < 0 {
		t.Errorf("listed at new/ and cur/: sizes %d, %d, want -1 and the file's", msgs[0].Size, msgs[1].Size)
	}
}
