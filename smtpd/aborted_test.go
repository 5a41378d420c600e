package smtpd

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A transfer that the client ends by going away, or by RSET within
// BDAT, is logged with what happened, not with a reply that no client
// read: the client closed its end (or reset the transfer), and the
// log said reply="451 4.4.2 ...", as if it had been answered.
func TestAbortedTransferLogsCause(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	for _, how := range []string{"data", "bdat", "rset"} {
		d := dial(t, "unix", ts.unix)
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<"+how+"@b.example>", "250")
		d.cmd("RCPT TO:<me@testhost.example>", "250")
		switch how {
		case "data":
			d.cmd("DATA", "354")
			d.send("Subject: half\r\n\r\nsome of it\r\n")
		case "bdat":
			d.send("BDAT 100000\r\nSubject: half\r\n\r\nsome of it")
		case "rset":
			d.send("BDAT 10\r\nSubject:\r\n")
			d.expect("250")
			d.cmd("RSET", "250")
			d.cmd("QUIT", "221")
		}
		time.Sleep(100 * time.Millisecond)
		d.c.Close()
	}
	want := map[string]string{
		"data": `reason="the client closed the connection within the message"`,
		"bdat": `reason="the client closed the connection within the message"`,
		"rset": `reason="the client ended the transfer before its last chunk (RSET, EHLO or QUIT)"`,
	}
	var l string
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if l = ts.log.String(); strings.Count(l, "transfer aborted") >= 3 {
			break
		}
	}
	for how, w := range want {
		var line string
		for _, x := range strings.Split(l, "\n") {
			if strings.Contains(x, "from="+how+"@b.example") && strings.Contains(x, "transfer aborted") {
				line = x
			}
		}
		switch {
		case line == "":
			t.Errorf("%s: no transfer aborted line in the log:\n%s", how, l)
		case !strings.Contains(line, w) || strings.Contains(line, "reply="):
			t.Errorf("%s: logged as\n%s\nwant %s and no reply", how, line, w)
		}
	}
}
