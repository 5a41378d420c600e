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

// A note of quit's move that a killed mail left is completed by the
// next mail to start: a message whose copy in ~/mbox is whole is
// removed from the mailbox it came from, found there by its signature
// although another reader changed its Status field since, the other
// messages left byte for byte; one whose copy was cut off stays in the
// mailbox, the copy cut back. Of two messages with one signature, as
// many stay as the mailbox held less the ones moved. test/sweep kills
// a real mail at each step of its move.
func TestMoveNoteCompletedAtStart(t *testing.T) {
	msg := func(n int, status string) string {
		return fmt.Sprintf("From a@example.org Mon Nov 24 16:00:0%d 2025\nSubject: m%d\nMessage-ID: <m%d@note.test>\n%s\nbody %d\n", n, n, n, status, n)
	}
	for _, c := range []struct {
		name    string
		box     []string // the mailbox after the crash (and another reader)
		moved   int      // the message moved
		dups    int      // how many the mailbox held with its signature
		cut     bool     // the copy was cut off by the kill (no verdict)
		wantBox []string
	}{
		{"whole", []string{msg(1, ""), msg(2, "Status: RO\n"), msg(3, "Status: O\n")}, 2, 1, false,
			[]string{msg(1, ""), msg(3, "Status: O\n")}},
		{"cut off", []string{msg(1, ""), msg(2, ""), msg(3, "")}, 2, 1, true,
			[]string{msg(1, ""), msg(2, ""), msg(3, "")}},
		{"removed already", []string{msg(1, ""), msg(3, "")}, 2, 1, false,
			[]string{msg(1, ""), msg(3, "")}},
		{"twice, one moved", []string{msg(2, ""), msg(1, ""), msg(2, "")}, 2, 2, false,
			[]string{msg(1, ""), msg(2, "")}},
		{"twice, removed already", []string{msg(1, ""), msg(2, "")}, 2, 2, false,
			[]string{msg(1, ""), msg(2, "")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHome(t)
			deliverFixtures(t, h.path("Maildir"), 1)
			box, mbox := h.path("inbox"), h.path("mbox")
			os.WriteFile(box, []byte(strings.Join(c.box, "\n")+"\n"), 0o600)
			cp := []byte(msg(c.moved, "Status: RO\n"))
			var sig string
			maildir.ScanMbox(strings.NewReader(msg(c.moved, "")), func(e *maildir.MboxMessage, header []byte) {
				sig = moveSig(e.FromLine, header)
			})
			written := cp
			if c.cut {
				written = cp[:len(cp)/2]
			}
			os.WriteFile(mbox, written, 0o600)
			dev, ino, err := maildir.PathID(mbox)
			if err != nil {
				t.Fatal(err)
			}
			head, _ := json.Marshal(noteHead{Path: mbox, Dev: dev, Ino: ino, From: &noteSource{Kind: "mbox", Path: box}})
			when, _ := time.Parse("Mon Jan _2 15:04:05 2006", fmt.Sprintf("Mon Nov 24 16:00:0%d 2025", c.moved))
			mark, _ := json.Marshal(noteMark{Sender: "a@example.org", Len: int64(len(cp)), Sum: fmt.Sprintf("%x", sha256.Sum256(cp)), Time: when, Src: sig, Dups: c.dups})
			note := string(head) + "\n" + string(mark) + "\n"
			if !c.cut {
				note += `{"last":"whole"}` + "\n"
			}
			notes := h.path(".local/state/homepost/" + noteDir)
			os.MkdirAll(notes, 0o700)
			// A pid no process has: the mail that wrote it is gone.
			os.WriteFile(filepath.Join(notes, "1.999999999.1"), []byte(note), 0o600)
			_, stderr, _ := h.mail(t, "", "-e")
			if got, want := readFile(t, box), strings.Join(c.wantBox, "\n")+"\n"; got != want {
				t.Errorf("the mailbox holds:\n%s\nwant:\n%s\nmail -e said: %s", got, want, stderr)
			}
			wantMbox := string(cp)
			if c.cut {
				wantMbox = ""
			}
			if got := readFile(t, mbox); got != wantMbox {
				t.Errorf("~/mbox holds:\n%s\nwant:\n%s", got, wantMbox)
			}
			if left, _ := os.ReadDir(notes); len(left) != 0 {
				t.Errorf("notes left after mail started: %v", left)
			}
		})
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}
