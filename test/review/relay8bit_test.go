package review

import (
	"strings"
	"testing"

	"homepost/test/testenv"
)

// homepost check --relay tells of a smarthost that offers no 8BITMIME
// (nor SMTPUTF8): 8-bit mail goes to it unchanged, an internationalized
// domain goes in A-labels, and mail with a UTF-8 local part bounces. It
// said only "reachable". A smarthost that offers both gets no such
// warning.
func TestCheckRelayNo8BitMIME(t *testing.T) {
	t.Parallel()
	addr := testenv.ServeLines(t, "220 old.example ESMTP", func(cmd string) (string, bool) {
		switch cmd = strings.ToUpper(cmd); {
		case strings.HasPrefix(cmd, "EHLO"):
			return "250-old.example\n250 SIZE 10240000", false
		case cmd == "QUIT":
			return "221 bye", true
		}
		return "250 ok", false
	})
	e := testenv.New(t, "[relay]\nurl = \"smtp://"+addr+"\"\nfrom = \"me@example.org\"\n")
	out, stderr, _ := e.Run(nil, "homepost", "check", "--relay")
	if !strings.Contains(out, "ok   relay: smtp://"+addr+" reachable") ||
		!strings.Contains(out, "warn relay: smtp://"+addr+" offers no 8BITMIME") ||
		!strings.Contains(out, "nor SMTPUTF8") || !strings.Contains(out, "goes in A-labels") ||
		!strings.Contains(out, "local part is in UTF-8 bounces (5.6.7)") {
		t.Errorf("check --relay, a smarthost without 8BITMIME:\n%s%s", out, stderr)
	}

	host := testenv.StartSmarthost(t)
	e = testenv.New(t, "[relay]\nurl = \"smtp://"+host.Addr+"\"\nfrom = \"me@example.org\"\n")
	out, stderr, _ = e.Run(nil, "homepost", "check", "--relay")
	if !strings.Contains(out, "reachable") || strings.Contains(out, "8BITMIME") {
		t.Errorf("check --relay, a smarthost with 8BITMIME:\n%s%s", out, stderr)
	}
}
