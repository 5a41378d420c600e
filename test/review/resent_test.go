package review

import (
	"fmt"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// sendmail -t with a Resent- field takes only the Resent-To, Resent-Cc
// and Resent-Bcc recipients, as sendmail and Postfix do (RFC 5322's
// resent fields name the recipients of the resending, To/Cc/Bcc those
// of the original), and removes Bcc and Resent-Bcc; sendmail(8) and
// --help say so, since a reader of "To, Cc and Bcc" alone would expect
// the other recipients to get the message too.
func TestSendmailResentRecipients(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	e.MustSend("From: a@example.org\nTo: to@remote.example\nBcc: hid1@remote.example,\n  hid2@remote.example\nResent-To: again@remote.example\nResent-Bcc: hid3@remote.example\nSubject: resent\n\nx\n", "-t")
	e.Once()
	if got := h.All(); len(got) != 2 || got["again@remote.example"] != 1 || got["hid3@remote.example"] != 1 {
		t.Errorf("the smarthost got %v, want again@ and hid3@ only", got)
	}
	for _, m := range h.Got("again@remote.example") {
		if strings.Contains(m, "hid") || !strings.Contains(m, "To: to@remote.example") {
			t.Errorf("sent copy keeps a Bcc or lost To:\n%s", m)
		}
	}
	help, _, _ := e.Run(nil, "sendmail", "--help")
	if !strings.Contains(help, "Resent-") {
		t.Errorf("sendmail --help does not say -t takes Resent- fields first:\n%s", help)
	}
}
