package mailx

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"homepost/maildir"
)

// The header summary shows lines/bytes. A Maildir message larger than
// the first read of its file (16 KB: cron's output of one 20,000
// character line) showed "?/21173", as if its size were unknown; its
// lines are counted now, as for a message of an mbox. Only a message
// too large to read for that at each listing (an attachment) shows "?".
func TestMaildirLineCountOfLongMessage(t *testing.T) {
	h := newHome(t)
	d := maildir.Dir(h.path("Maildir"))
	d.Init()
	long := strings.Repeat("L", 20000) + "\n"
	d.Deliver("1700000001.M1P1.host", []byte("From: cron@example.org\nSubject: long line\n\n"), strings.NewReader(long))
	body := strings.Repeat("a line of text, as text mail has them\n", 3000) + "no newline at the end"
	d.Deliver("1700000002.M1P1.host", []byte("From: a@example.org\nSubject: many lines\n\n"), strings.NewReader(body))
	huge := strings.Repeat(strings.Repeat("B", 76)+"\n", (2<<20)/77)
	d.Deliver("1700000003.M1P1.host", []byte("From: a@example.org\nSubject: huge\n\n"), strings.NewReader(huge))
	size := func(name string) int64 {
		st, err := os.Stat(filepath.Join(d.Path(maildir.Entry{File: name, New: true})))
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	for _, args := range [][]string{{"-H"}, {"-N"}} {
		o, e, _ := h.mail(t, "h\nx\n", args...)
		for _, want := range []string{
			fmt.Sprintf("   4/%d ", size("1700000001.M1P1.host")),
			fmt.Sprintf("3004/%d ", size("1700000002.M1P1.host")),
			fmt.Sprintf("   ?/%d ", size("1700000003.M1P1.host")),
		} {
			if !strings.Contains(o, want) {
				t.Errorf("mail %v: no %q in:\n%s%s", args, want, o, e)
			}
		}
		if regexp.MustCompile(`\?/2[0-9]{4} `).MatchString(o) {
			t.Errorf("mail %v: a line count unknown for a small message:\n%s", args, o)
		}
	}
}
