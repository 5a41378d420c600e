package postfix

import (
	"os"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// The whole way, as a user sets it up: sendmail -t queues a message for
// a remote and a local recipient, "homepost agent --once" stores the
// local copy and hands the remote one to a Postfix that wants STARTTLS
// and AUTH, with the password from password_command; mailq is then
// empty, and "homepost check --relay" finds the smarthost usable. A
// wrong password leaves the message queued with the server's reason.
func TestPipelineThroughTLSSmarthost(t *testing.T) {
	needPostfix(t)
	cfg := tlsConfig(t, "smtp+starttls://"+submissionAddr) // skips without the TLS Postfix
	relay := "[relay]\n" +
		"url = \"" + cfg.Relay.URL + "\"\n" +
		"username = \"tester\"\n" +
		"password_command = \"cat " + tlsDir + "/password\"\n" +
		"ca_file = \"" + cfg.Relay.CAFile + "\"\n" +
		"from = \"alice@sender.test.invalid\"\n"
	e := testenv.New(t, relay)
	tok := token(t)
	e.MustSend("To: ivan@test.invalid, root\nBcc: judy@test.invalid\nSubject: "+tok+"\n\nthe whole way\n", "-t", "-i")
	e.Once()
	if out, _, _ := e.Run(nil, "mailq"); !strings.Contains(out, "Mail queue is empty") {
		t.Errorf("mailq after delivery:\n%s", out)
	}
	for _, c := range arrived(t, tok, 2) {
		if strings.Contains(string(c), "\nBcc:") || !strings.Contains(string(c), " with ESMTPSA ") {
			t.Errorf("remote copy:\n%s", c)
		}
	}
	local := testenv.Files(e.Path("Maildir", "new"))
	if len(local) != 1 {
		t.Fatalf("local copies: %v", local)
	}
	if b, _ := os.ReadFile(e.Path("Maildir", "new", local[0])); !strings.Contains(string(b), tok) {
		t.Errorf("local copy:\n%s", b)
	}
	// (check fails on the agent, which the test does not run; the
	// relay's own line is what counts here.)
	if out, _, _ := e.Run(nil, "homepost", "check", "--relay"); !strings.Contains(out, "ok   relay: "+cfg.Relay.URL+" reachable; logged in as tester") {
		t.Errorf("check --relay:\n%s", out)
	}

	// The same with a password the server refuses: deferred, and mailq
	// says why.
	bad := testenv.New(t, strings.Replace(relay, "cat "+tlsDir+"/password", "echo wrong", 1))
	tok2 := token(t)
	bad.MustSend("To: ivan@test.invalid\nSubject: "+tok2+"\n\nx\n", "-t")
	bad.Once()
	if out, _, _ := bad.Run(nil, "mailq"); !strings.Contains(out, "535") || !strings.Contains(out, "ivan@test.invalid") {
		t.Errorf("mailq with a refused password:\n%s", out)
	}
	if n := copies(tok2); n != 0 {
		t.Errorf("%d copies arrived with a wrong password", n)
	}
}
