package maildir

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Mutt appends to an mbox that does not end in a newline
// without a separator, so its "From " line lands in the middle of a
// cut-off copy's last line. Resolve must not take mutt's message for
// part of the cut-off copy and cut it off with it.
func TestResolveKeepsMuttAppendAfterCutCopy(t *testing.T) {

	path := filepath.Join(t.TempDir(), "mbox")
	body := "Subject: big\n\n" + strings.Repeat("line of a long message body\n", 200)
	l, err := Mbox(path).Lock()
	if err != nil {
		t.Fatal(err)
	}
	var mark Mark
	err = l.AppendMarked("a@x", time.Unix(2e9, 0), nil, func() io.Reader { return strings.NewReader(body) }, func(m Mark) error {
		mark = m
		return nil
	})
	l.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := os.ReadFile(path)
	// A kill cut the copy off in the middle of a line; then mutt (2.2,
	// a save or an Fcc) appended its message right after the last byte.
	cut := whole[:len(whole)/2]
	for cut[len(cut)-1] == '\n' {
		cut = cut[:len(cut)-1]
	}
	mutt := "From me@x Thu Dec  3 18:46:08 2026\nSubject: saved by mutt\nStatus: RO\n\nmutt body\n\n"
	content := append(append([]byte{}, cut...), mutt...)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err = Mbox(path).Lock()
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.Resolve(mark, "a@x")
	l.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Contains(after, []byte("saved by mutt")) {
		t.Fatalf("Resolve said %v and cut the mbox from %d to %d bytes: the message mutt appended after the cut-off copy is gone", st, len(content), len(after))
	}
}
