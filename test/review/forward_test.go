package review

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// An alias or a ~/.forward that sends the user's mail to one remote
// address (README: "Put it in ~/.forward (or in aliases as
// `me: me@example.com`)") must hand that address to the smarthost, with
// a Delivered-To for the forwarding address so that a loop is caught.
//
// The agent hands the envelope recipient ("root", the login) to the
// smarthost instead of the one target it resolved to, whenever a local
// recipient resolves to exactly one remote target: the smarthost refuses
// "RCPT TO:<root>" (501) and the mail bounces. other_users = "relay"
// takes the same path.
func TestForwardToOneRemoteAddress(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"aliases", "forward", "other_users"} {
		t.Run(how, func(t *testing.T) {
			h := testenv.StartSmarthost(t)
			extra := ""
			if how == "other_users" {
				extra = "other_users = \"relay\"\nrelay_domain = \"remote.example\"\n"
			}
			e := testenv.New(t, extra+fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
			me := testenv.Login(t)
			switch how {
			case "aliases":
				os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte("root: friend@remote.example\n"), 0o600)
				e.MustSend("Subject: cron\n\nbody\n", "root")
			case "forward":
				os.WriteFile(e.Path(".forward"), []byte("friend@remote.example\n"), 0o600)
				e.MustSend("Subject: cron\n\nbody\n", me)
			default:
				e.MustSend("Subject: cron\n\nbody\n", "friend")
			}
			e.Once()
			if h.Count("friend@remote.example") != 1 {
				t.Fatalf("smarthost got %v, want one copy for friend@remote.example", h.All())
			}
			if msg := h.Got("friend@remote.example")[0]; !strings.Contains(msg, "Delivered-To: ") {
				t.Errorf("forwarded copy has no Delivered-To:\n%s", msg)
			}
		})
	}
}
