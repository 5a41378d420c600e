package mailx

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"homepost/maildir"
)

// testMessage is message i of a fixture mailbox: sender userI, subject
// "Subject I", a Message-ID, a body whose third line starts with "From ".
func testMessage(i int) (sender string, header, body string) {
	sender = fmt.Sprintf("user%d@example.org", i)
	header = fmt.Sprintf("From: User %d <%s>\nTo: me@example.net\nSubject: Subject %d\n"+
		"Date: Sat, 2 Jan 2021 08:%02d:00 +0000\nMessage-ID: <msg%d@example.org>\n\n", i, sender, i, i%60, i)
	body = fmt.Sprintf("Body of message %d.\nSecond line.\nFrom here on, mboxrd quotes.\n", i)
	return
}

// deliverFixtures delivers n messages into a Maildir the way homepost's
// delivery does.
func deliverFixtures(t *testing.T, dir string, n int) {
	t.Helper()
	d := maildir.Dir(dir)
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		_, h, b := testMessage(i)
		name := fmt.Sprintf("%d.M%dP1.test", 1609577400+i, i)
		if err := d.Deliver(name, []byte(h), strings.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

// appendFixtures appends messages first..last to an mbox with
// homepost's delivery.
func appendFixtures(t *testing.T, path string, first, last int) {
	t.Helper()
	for i := first; i <= last; i++ {
		s, h, b := testMessage(i)
		if err := maildir.Mbox(path).Append(s, time.Date(2021, 1, 2, 8, i%60, 0, 0, time.UTC), []byte(h), strings.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
}
