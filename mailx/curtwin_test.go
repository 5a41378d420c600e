package mailx

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Another reader that moves a message from new/ to cur/ (Dovecot on a
// client's SELECT, with its own flags) after quit linked it into cur/
// and before quit removed its name in new/ leaves two names of one
// file in cur/. Quit keeps its own, durable, with the other reader's
// flags added, and removes the other: the message is once in the
// Maildir, and a later listing shows it once.
func TestQuitLinkRacesOtherReadersMove(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o700)
	}
	for i, name := range []string{"1700000001.M1P1.host", "1700000002.M1P1.host"} {
		_, hd, b := testMessage(i + 1)
		os.WriteFile(filepath.Join(dir, "new", name), []byte(hd+b), 0o600)
	}
	box, err := openBox("maildir", dir, false)
	if err != nil {
		t.Fatal(err)
	}
	box.Msgs[0].flags |= fRead
	s := &session{env: &env{set: newSettings(), out: bufio.NewWriter(io.Discard), errw: io.Discard}, box: box}
	beforeLeavingNew = func() {
		if err := os.Rename(filepath.Join(dir, "new", "1700000001.M1P1.host"), filepath.Join(dir, "cur", "1700000001.M1P1.host:2,F")); err != nil {
			t.Error(err)
		}
	}
	defer func() { beforeLeavingNew = nil }()
	if err := s.applyMaildir(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sub := range []string{"new", "cur"} {
		es, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range es {
			names = append(names, sub+"/"+e.Name())
		}
	}
	if want := []string{"cur/1700000001.M1P1.host:2,FS", "cur/1700000002.M1P1.host:2,"}; !slices.Equal(names, want) {
		t.Errorf("the Maildir holds %v, want %v", names, want)
	}
	msgs, _, err := scanMaildir(dir)
	if err != nil || len(msgs) != 2 {
		t.Errorf("listed again: %d messages, %v", len(msgs), err)
	}
}
