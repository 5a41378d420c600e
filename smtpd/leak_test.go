package smtpd

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Transfers cut off by RSET leave no goroutine behind. go-smtp v0.25.1
// sent a BDAT transfer's result to the channel the connection had when
// the transfer's Data returned; homepost held a cut-off transfer's Data
// until the session's end, so that its result could not answer the next
// transfer, and then all but one of a session's blocked for ever on the
// last transfer's full channel, each in its goroutine. The copy in
// third_party/go-smtp sends it to the transfer's own channel.
func TestCutOffTransfersLeaveNoGoroutines(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	base := runtime.NumGoroutine()
	for s := 0; s < 5; s++ {
		d := dial(t, "unix", ts.unix)
		d.cmd("EHLO client.example", "250")
		for k := 0; k < 3; k++ {
			d.c.Write([]byte("MAIL FROM:<a@b.example>\r\nRCPT TO:<me@testhost.example>\r\nBDAT 5\r\nfirstRSET\r\n"))
			for range 4 {
				line, _ := d.r.ReadString('\n')
				if !strings.HasPrefix(line, "250") {
					t.Fatalf("%q", line)
				}
			}
		}
		d.cmd("QUIT", "221")
	}
	time.Sleep(500 * time.Millisecond)
	n := runtime.NumGoroutine()
	if n > base+2 {
		buf := make([]byte, 1<<20)
		m := runtime.Stack(buf, true)
		t.Errorf("goroutines %d before, %d after 5 sessions of 3 transfers cut off by RSET\n%s", base, n, firstStacks(string(buf[:m])))
	}
}

func firstStacks(s string) string {
	var out []string
	for _, g := range strings.Split(s, "\n\n") {
		if strings.Contains(g, "go-smtp") && strings.Contains(g, "chan send") {
			out = append(out, g)
		}
	}
	if len(out) > 1 {
		out = out[:1]
	}
	return strings.Join(out, "\n\n")
}
