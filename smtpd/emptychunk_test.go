package smtpd

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A transfer whose only chunk is empty ("BDAT 0"), cut off by RSET,
// runs its Data on its own envelope, not on the next transaction's.
// An empty chunk writes nothing to the transfer's pipe, so nothing held
// the session until go-smtp's goroutine had begun Data: the client's
// next MAIL and RCPT could set the envelope while that Data read it (a
// data race, which go test -race reports), and the "transfer aborted"
// line named the next sender. Each round is one write, as a pipelining
// client sends it; the cut-off transaction has one recipient, the next
// two, and every sender is different.
func TestEmptyChunkResetKeepsItsEnvelope(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	const rounds = 200
	msg := "Subject: after an empty chunk\r\n\r\nbody\r\n"
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO client.example", "250")
	answered := 0
	for k := range rounds {
		d.send(fmt.Sprintf("MAIL FROM:<cut%d@b.example>\r\nRCPT TO:<me@testhost.example>\r\nBDAT 0\r\n"+
			"RSET\r\nMAIL FROM:<next%d@b.example>\r\nRCPT TO:<me@testhost.example>\r\nRCPT TO:<you@testhost.example>\r\n"+
			"BDAT %d LAST\r\n%s", k, k, len(msg), msg))
		for _, what := range []string{"MAIL", "RCPT", "BDAT 0", "RSET", "MAIL", "RCPT", "RCPT"} {
			if r := d.reply(); !strings.HasPrefix(r, "250") {
				t.Fatalf("round %d: %s answered %q", k, what, r)
			}
		}
		if r := d.reply(); strings.HasPrefix(r, "250 2.0.0") {
			answered++
		} else {
			t.Errorf("round %d: the whole message got %q", k, r)
		}
	}
	d.cmd("QUIT", "221")
	// The Data of a cut-off transfer may still run.
	for end := time.Now().Add(5 * time.Second); ts.s.be.busy() && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}

	q := queued(t, ts.cfg)
	senders := map[string]bool{}
	for _, m := range q {
		if len(m.Env.Rcpts) != 2 || !strings.HasPrefix(m.Env.Sender, "next") {
			t.Errorf("queued %s: sender %q, %d recipients; want next<k>@b.example and 2", m.ID, m.Env.Sender, len(m.Env.Rcpts))
		}
		senders[m.Env.Sender] = true
	}
	if len(q) != rounds || answered != rounds || len(senders) != rounds {
		t.Errorf("%d messages queued (%d senders), %d answered 250, of %d sent whole", len(q), len(senders), answered, rounds)
	}

	// Each cut-off transfer is logged at most once, with its own
	// envelope.
	aborted := regexp.MustCompile(`msg="smtp: message transfer aborted".* from=(\S+) nrcpt=(\d+)`)
	seen := map[string]bool{}
	for _, line := range strings.Split(ts.log.String(), "\n") {
		m := aborted.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if !strings.HasPrefix(m[1], "cut") || m[2] != "1" || seen[m[1]] {
			t.Errorf("a transfer cut off after an empty chunk is logged with another envelope (or twice): %s", line)
		}
		seen[m[1]] = true
	}
	if len(seen) != rounds {
		t.Errorf("%d transfers cut off after an empty chunk are logged, of %d", len(seen), rounds)
	}
}
