package review

import (
	"strings"
	"testing"

	"homepost/test/testenv"
)

// homepost check --relay with an smtps:// url on a port that speaks
// plain SMTP (it greets in clear) fails naming the smtp+starttls:// url
// to try, and no Go error text ("context ...") reaches the user.
func TestCheckRelayImplicitTLSOnPlainPort(t *testing.T) {
	t.Parallel()
	host := testenv.StartSmarthost(t)
	e := testenv.New(t, "[relay]\nurl = \"smtps://"+host.Addr+"\"\nconnect_timeout = \"5s\"\ncommand_timeout = \"5s\"\n")
	out, stderr, code := e.Run(nil, "homepost", "check", "--relay")
	if code != 1 || !strings.Contains(out, "FAIL relay: smtps://"+host.Addr) ||
		!strings.Contains(out, "does not look like a TLS handshake") ||
		!strings.Contains(out, `try url = "smtp+starttls://`+host.Addr+`"`) || strings.Contains(out, "context") {
		t.Errorf("check --relay: exit %d\n%s%s", code, out, stderr)
	}
}
