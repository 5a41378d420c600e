package maildir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// python runs a script with python3, an mbox and Maildir reader that
// shares no code with this package.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("SKIP: python3 is not installed: cannot check the mailbox independently")
	}
	out, err := exec.Command(py, append([]string{"-c", script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	return string(out)
}

func TestListOrderAndOddEntries(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(string(d), "cur", "subdir"), 0o700)
	for name, data := range map[string]string{
		"cur/.hidden":        "Subject: no\n\n",
		"cur/2.b:2,S":        "Subject: two\n\nbody\n",
		"cur/10.M2P1.x:2,RS": "Subject: ten-2\n\n",
		"cur/10.M10P1.x:1,x": "Subject: ten-10\n\n",
		"new/10.M9P1.x":      "Subject: ten-9\n\n",
		"new/1.c":            "",
		"tmp/0.t":            "Subject: in tmp\n\n",
	} {
		if err := os.WriteFile(filepath.Join(string(d), name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%s|%s|%v", e.Key(), e.Info(), e.New))
	}
	want := []string{"subdir||false", "1.c||true", "2.b|S|false", "10.M2P1.x|RS|false", "10.M9P1.x||true", "10.M10P1.x||false"}
	if !slices.Equal(got, want) {
		t.Fatalf("List:\n got %q\nwant %q", got, want)
	}
	var mu sync.Mutex
	heads := map[string]string{}
	d.ReadHeads(len(entries), func(i int) Entry { return entries[i] }, func(i int, data []byte, size int64) {
		mu.Lock()
		defer mu.Unlock()
		heads[entries[i].Key()] = fmt.Sprintf("%d:%q", size, data)
	})
	if heads["subdir"] != "-1:\"\"" || heads["2.b"] != `19:"Subject: two\n\nbody\n"` || heads["1.c"] != `0:""` {
		t.Errorf("ReadHeads: %q", heads)
	}
}

// A header longer than the first read is followed to its end; the body
// of a large message is not read.
func TestReadHeadsLongHeader(t *testing.T) {
	d := Dir(t.TempDir())
	d.Init()
	header := "Subject: long\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 70)+"\n", 400) + "\n"
	body := strings.Repeat("body line\n", 10000)
	os.WriteFile(filepath.Join(string(d), "new", "1.a"), []byte(header+body), 0o600)
	entries, _ := d.List()
	d.ReadHeads(len(entries), func(i int) Entry { return entries[i] }, func(i int, data []byte, size int64) {
		if size != int64(len(header+body)) || !bytes.HasPrefix(data, []byte(header)) || len(data) >= int(size) {
			t.Errorf("size %d, %d bytes read, header whole: %v", size, len(data), bytes.HasPrefix(data, []byte(header)))
		}
	})
}

func TestFindSetInfoReplace(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.Store([]byte("Subject: one\n\nbody\n")); err != nil {
		t.Fatal(err)
	}
	entries, _ := d.List()
	if len(entries) != 1 || !entries[0].New {
		t.Fatalf("after Store: %+v", entries)
	}
	e := entries[0]
	e2, err := d.SetInfo(e, AddFlag("", FlagSeen))
	if err != nil || e2.New || e2.Info() != "S" || e2.Key() != e.Key() {
		t.Fatalf("SetInfo: %+v %v", e2, err)
	}
	// Another reader flags it: Find follows it by its key.
	os.Rename(d.Path(e2), filepath.Join(string(d), "cur", e.Key()+":2,FS"))
	found, ok := d.Find(e.Key())
	if !ok || found.Info() != "FS" {
		t.Fatalf("Find: %+v %v", found, ok)
	}
	if _, ok := d.Find(e.Key()[:len(e.Key())-1]); ok {
		t.Error("Find matched a prefix of the key")
	}
	if got := DropFlag(AddFlag(AddFlag("S", FlagReplied), FlagReplied), FlagSeen); got != "R" {
		t.Errorf("flags: %q", got)
	}
	old := time.Unix(1609577400, 0)
	os.Chtimes(d.Path(found), old, old)
	if err := d.Replace(found, []byte("Subject: edited\n\n")); err != nil {
		t.Fatal(err)
	}
	if err := d.SyncDirs(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(d.Path(found))
	st, _ := os.Stat(d.Path(found))
	if string(b) != "Subject: edited\n\n" || !st.ModTime().Equal(old) {
		t.Errorf("after Replace: %q, mtime %v", b, st.ModTime())
	}
	if n, _ := os.ReadDir(filepath.Join(string(d), "tmp")); len(n) != 0 {
		t.Errorf("tmp/ not empty: %v", n)
	}
	if err := d.Remove(found); err != nil {
		t.Fatal(err)
	}
	if entries, _ := d.List(); len(entries) != 0 {
		t.Errorf("after Remove: %+v", entries)
	}
}

type scanned struct {
	MboxMessage
	from, header string
}

func scanAll(t *testing.T, in string) ([]scanned, int64, error) {
	t.Helper()
	var out []scanned
	n, err := ScanMbox(strings.NewReader(in), func(m *MboxMessage, header []byte) {
		out = append(out, scanned{*m, string(m.FromLine), string(header)})
	})
	return out, n, err
}

func TestScanMbox(t *testing.T) {
	in := "From a@b Sat Jan  2 08:50:00 2021\nSubject: one\nStatus: RO\n\nbody\n>From quoted\n\n" +
		"From c@d Sat Jan  2 08:51:00 2021\r\nFrom: C <c@d>\r\nSubject: two\r\n  folded\r\n\r\nline\r\nFrom not a separator (no blank line before)\r\n\r\n" +
		"From e@f Sat Jan  2 08:52:00 2021\nSubject: three\nno final newline"
	msgs, size, err := scanAll(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(in)) || len(msgs) != 3 {
		t.Fatalf("size %d, %d messages", size, len(msgs))
	}
	if msgs[0].from != "a@b Sat Jan  2 08:50:00 2021" || msgs[0].header != "Subject: one\nStatus: RO\n" || msgs[0].Lines != 6 {
		t.Errorf("message 1: %+v", msgs[0])
	}
	if msgs[1].header != "From: C <c@d>\r\nSubject: two\r\n  folded\r\n" || msgs[1].Lines != 7 {
		t.Errorf("message 2: %+v", msgs[1])
	}
	if msgs[2].header != "Subject: three\nno final newline\n" {
		t.Errorf("message 3 header %q", msgs[2].header)
	}
	for i, m := range msgs {
		text := in[m.Off : m.Off+m.Len]
		if !strings.HasPrefix(text, "From ") || strings.HasSuffix(text, "\n\n") || strings.HasSuffix(text, "\r\n\r\n") {
			t.Errorf("message %d spans %q", i+1, text)
		}
	}
	if _, _, err := scanAll(t, "Subject: not an mbox\n"); err == nil {
		t.Error("a file without a From line was accepted")
	}
	if msgs, _, err := scanAll(t, "\n\n"); err != nil || len(msgs) != 0 {
		t.Errorf("blank file: %v %v", msgs, err)
	}
}

func FuzzScanMbox(f *testing.F) {
	f.Add([]byte("From a@b Sat Jan  2 08:50:00 2021\nSubject: x\n\nbody\n>From q\n\nFrom c@d Sat Jan  2 08:50:00 2021\n\n"))
	f.Add([]byte("From \r\n\r\nFrom \n"))
	f.Add([]byte("\n\nFrom x\nSubject: \n folded\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var prev int64 = -1
		size, err := ScanMbox(bytes.NewReader(data), func(m *MboxMessage, header []byte) {
			if m.Off <= prev || m.Off+m.Len > int64(len(data)) || m.Len < 0 || !bytes.HasPrefix(data[m.Off:], []byte("From ")) {
				t.Fatalf("bad message span %d+%d", m.Off, m.Len)
			}
			if len(header) > 0 && header[len(header)-1] != '\n' {
				t.Fatalf("header without a final newline: %q", header)
			}
			prev = m.Off
		})
		if err == nil && size != int64(len(data)) {
			t.Fatalf("size %d of %d", size, len(data))
		}
	})
}

// appendN appends messages first..last to an mbox.
func appendN(t *testing.T, path string, first, last int) {
	t.Helper()
	for i := first; i <= last; i++ {
		h := fmt.Sprintf("From: u%d@example.org\nSubject: Subject %d\n\n", i, i)
		if err := Mbox(path).Append(fmt.Sprintf("u%d@example.org", i), time.Unix(1609577400, 0), []byte(h), strings.NewReader("Body.\nFrom here, quoted.\n")); err != nil {
			t.Fatal(err)
		}
	}
}

// openAll opens an mbox and returns its file, messages and size.
func openAll(t *testing.T, path string) (*os.File, []MboxMessage, Scanned) {
	t.Helper()
	var msgs []MboxMessage
	f, size, err := Mbox(path).Open(func(m *MboxMessage, _ []byte) { msgs = append(msgs, *m) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, msgs, size
}

// Rewrite keeps the messages given, with their new Status, an edited
// one as its new text, and what arrived after the scan; it writes them
// over the mbox in place, same inode, as mutt and s-nail do, and leaves
// no record behind.
func TestRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	appendN(t, path, 1, 4)
	before, _ := os.Stat(path)
	f, msgs, size := openAll(t, path)
	appendN(t, path, 5, 5)
	var grown []MboxMessage
	if n, err := Mbox(path).ScanAppended(f, size, func(m *MboxMessage, _ []byte) { grown = append(grown, *m) }); err != nil || len(grown) != 1 || n.Size <= size.Size {
		t.Fatalf("ScanAppended: %v, %d messages, size %d after %d", err, len(grown), n.Size, size.Size)
	}
	if got := FromLine(f, grown[0].Off); got != "u5@example.org Sat Jan  2 08:50:00 2021" {
		t.Errorf("FromLine: %q", got)
	}
	if got := FromLine(f, grown[0].Off+1); got != "" {
		t.Errorf("FromLine inside a message: %q", got)
	}
	if raw, err := ReadMessage(f, grown[0].Off, grown[0].Len); err != nil || string(raw) != "From: u5@example.org\nSubject: Subject 5\n\nBody.\nFrom here, quoted.\n" {
		t.Errorf("ReadMessage: %q %v", raw, err)
	}
	keep := []Kept{
		{Off: msgs[0].Off, Len: msgs[0].Len, Status: "RO"},
		{Status: "O", Text: []byte("Subject: Edited 3\n\nFrom the editor.\n"), FromLine: "u3@example.org Sat Jan  2 08:50:00 2021"},
		{Off: msgs[3].Off, Len: msgs[3].Len, Status: "O"},
	}
	arrived, err := Mbox(path).Rewrite(f, size, slices.Values(keep))
	if err != nil || arrived == 0 {
		t.Fatalf("Rewrite: %v, %d bytes arrived", err, arrived)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Error("the mbox was replaced, not rewritten in place")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(left) != 0 {
		t.Errorf("files left beside the mbox: %v", left)
	}
	// Python's mbox does not undo mboxrd quoting: the body lines
	// read back quoted as they are stored.
	out := python(t, `
import mailbox, sys
print([(m['Subject'], m['Status'], m.get_payload()) for m in mailbox.mbox(sys.argv[1])])
`, path)
	want := "[('Subject 1', 'RO', 'Body.\\n>From here, quoted.\\n'), ('Edited 3', 'O', '>From the editor.\\n'), ('Subject 4', 'O', 'Body.\\n>From here, quoted.\\n'), ('Subject 5', None, 'Body.\\n>From here, quoted.\\n')]\n"
	if out != want {
		t.Errorf("mbox:\n%s want\n%s", out, want)
	}
	// The file read before is not the mbox any more.
	if _, err := Mbox(path).Rewrite(f, size, slices.Values(keep)); err == nil || !strings.Contains(err.Error(), ErrChanged.Error()) {
		t.Errorf("a rewrite of a replaced mbox: %v", err)
	}
}

// TestRewriteInPlace acts as a user who may not create files next to
// the mbox (a /var/mail spool): the record of the rewrite goes to the
// state directory, and the mbox is rewritten in place, same inode, same
// result.
func TestRewriteInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool")
	appendN(t, path, 1, 4)
	before, _ := os.Stat(path)
	f, msgs, size := openAll(t, path)
	appendN(t, path, 5, 5)
	refuseNextTo(t)
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Setenv("HOME", t.TempDir())
	keep := []Kept{
		{Off: msgs[0].Off, Len: msgs[0].Len, Status: "RO"},
		{Off: msgs[2].Off, Len: msgs[2].Len, Status: "O"},
		{Off: msgs[3].Off, Len: msgs[3].Len, Status: "O"},
	}
	if _, err := Mbox(path).Rewrite(f, size, slices.Values(keep)); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Error("the mbox was replaced, not rewritten in place")
	}
	out := python(t, `
import mailbox, sys
print([(m['Subject'], m['Status']) for m in mailbox.mbox(sys.argv[1])])
`, path)
	if out != "[('Subject 1', 'RO'), ('Subject 3', 'O'), ('Subject 4', 'O'), ('Subject 5', None)]\n" {
		t.Errorf("mbox: %s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(state, "homepost", "mbox-rewrite", "*")); len(left) != 0 {
		t.Errorf("records left: %v", left)
	}
}

// refuseNextTo acts, for the test, as a user who may not create files
// beside the mbox (a /var/mail spool).
func refuseNextTo(t *testing.T) {
	saved := createRecordNextTo
	createRecordNextTo = func(string) (*os.File, error) { return nil, os.ErrPermission }
	t.Cleanup(func() { createRecordNextTo = saved })
}

// TestRewriteAfterRewriteInPlace: another program (s-nail, mutt)
// rewrote the mbox in place, same inode, and no smaller (it added
// Status fields, and mail arrived): the offsets read before point into
// other messages now, so Rewrite and ScanAppended refuse (ErrChanged)
// and leave the file as it is, and Appended does not call the growth
// new mail.
func TestRewriteAfterRewriteInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	appendN(t, path, 1, 5)
	f, msgs, size := openAll(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// As s-nail does after "p 1", "p 3", "p 5": a Status field for
	// each message read, written over the same inode.
	grown := strings.ReplaceAll(string(data), "\n\nBody.", "\nStatus: RO\n\nBody.")
	if err := os.WriteFile(path, []byte(grown), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := Mbox(path).Appended(f, size); !errors.Is(err, ErrChanged) {
		t.Errorf("Appended after a rewrite in place: %d, %v", n, err)
	}
	if _, err := Mbox(path).ScanAppended(f, size, func(*MboxMessage, []byte) { t.Error("a message scanned") }); !errors.Is(err, ErrChanged) {
		t.Errorf("ScanAppended after a rewrite in place: %v", err)
	}
	keep := []Kept{
		{Off: msgs[0].Off, Len: msgs[0].Len, Status: "RO"},
		{Off: msgs[2].Off, Len: msgs[2].Len, Status: "O"},
	}
	if _, err := Mbox(path).Rewrite(f, size, slices.Values(keep)); !errors.Is(err, ErrChanged) {
		t.Errorf("Rewrite after a rewrite in place: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != grown {
		t.Errorf("the mbox was changed:\n%s", after)
	}
	// Mail appended to a file that is otherwise as read is new mail.
	path2 := filepath.Join(t.TempDir(), "mbox")
	appendN(t, path2, 1, 2)
	f2, _, size2 := openAll(t, path2)
	appendN(t, path2, 3, 3)
	if n, err := Mbox(path2).Appended(f2, size2); err != nil || n == 0 {
		t.Errorf("Appended after a delivery: %d, %v", n, err)
	}
}

func FuzzWriteWithStatus(f *testing.F) {
	f.Add([]byte("From a@b Sat Jan  2 08:50:00 2021\nSubject: x\nStatus: O\n X-folded\n\nbody\n"), "RO")
	f.Add([]byte("From a@b Sat Jan  2 08:50:00 2021"), "O")
	f.Fuzz(func(t *testing.T, msg []byte, status string) {
		if !bytes.HasPrefix(msg, []byte("From ")) || strings.ContainsAny(status, "\r\n") {
			return
		}
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		if _, _, err := writeWithStatus(w, bufio.NewReaderSize(nil, 64<<10), bytes.NewReader(msg), status); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if !bytes.Contains(out.Bytes(), []byte("Status: "+status+"\n")) {
			t.Fatalf("no Status field in %q", out.Bytes())
		}
	})
}
