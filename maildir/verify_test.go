package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Verify tells a reader whether the offsets it read still hold: mail
// appended since is no change; a rewrite in place by another program
// (s-nail deleting message 1, or another mail's quit) is ErrChanged,
// before the reader shows message 3's text as message 2.
func TestVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	appendN(t, path, 1, 3)
	f, msgs, read := openAll(t, path)
	if _, err := Mbox(path).Verify(f, read); err != nil {
		t.Fatalf("Verify of an mbox as read: %v", err)
	}
	appendN(t, path, 4, 4)
	read2, err := Mbox(path).Verify(f, read)
	if err != nil {
		t.Fatalf("Verify after a delivery: %v", err)
	}
	if read2.Size != read.Size || read2.Sum != read.Sum {
		t.Errorf("Verify changed what was read: %+v, was %+v", read2, read)
	}
	if read2.stamp == read.stamp {
		t.Error("Verify did not note the file as it is now")
	}
	if _, err := Mbox(path).Verify(f, read2); err != nil {
		t.Fatalf("Verify again: %v", err)
	}
	// As s-nail's "d 1", "q": the rest written over the same inode.
	b, _ := os.ReadFile(path)
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteAt(b[msgs[1].Off:], 0)
	w.Truncate(int64(len(b)) - msgs[1].Off)
	w.Close()
	if _, err := Mbox(path).Verify(f, read2); !errors.Is(err, ErrChanged) {
		t.Errorf("Verify after a rewrite in place: %v, want ErrChanged", err)
	}
}
