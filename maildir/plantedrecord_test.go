package maildir

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// In a spool directory that other users may write to (a 1777
// /var/spool/mail, which openMbox guards against for the mbox itself),
// another user can plant ".NAME.homepost-rewrite" beside a victim's
// mbox. Everything a record holds is known to that user: the mbox's
// device, inode and size come from stat(2), and with Off = 0 the
// prefix's SHA-256 is that of nothing; a growing record has no tail to
// check. The victim's next delivery (or mail) "finishes" it: the
// planted text is written over the whole mailbox. The record's owner
// and mode are not checked.
func TestPlantedRewriteRecord(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o1777)
	path := filepath.Join(dir, "victim")
	appendN(t, path, 1, 3)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	forged := []byte("From evil@example.org Sat Jan  2 08:50:00 2021\nSubject: forged\n\nyour mail is gone\n\n")
	for int64(len(forged)) < st.Size() {
		forged = append(forged, '\n')
	}
	r := record{Off: 0, New: int64(len(forged)), Old: st.Size()}
	if r.Dev, r.Ino, err = PathID(path); err != nil {
		t.Fatal(err)
	}
	r.Prefix = sha256.Sum256(nil)
	r.Data = sha256.Sum256(forged)
	name := recordNextTo(path)
	if err := os.WriteFile(name, append(r.encode(), forged...), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chown(name, 65534, 65534) // another user's file
	l, err := Mbox(path).LockForDelivery()
	if err == nil {
		l.Append("a@example.org", time.Unix(1609577400, 0), []byte("Subject: new\n\n"), strings.NewReader("new\n"))
		l.Unlock()
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "your mail is gone") || !strings.Contains(string(b), "Subject: Subject 1") {
		t.Errorf("another user's file beside the mbox was applied to it (lock: %v); the mbox now holds:\n%s", err, b)
	}
}
