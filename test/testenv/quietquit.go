package testenv

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
)

// QuietQuit is a smarthost that takes every message and, while Quiet is
// set, never answers QUIT, as one does whose connection a NAT or a
// suspended laptop dropped right after its last reply: the reply to
// QUIT, and the close, never come. With Quota set, a connection that
// has taken that many messages refuses the next one's first recipient
// for their number on that connection (452 4.5.3).
type QuietQuit struct {
	Addr  string       // host:port on 127.0.0.1
	Quiet atomic.Bool  // QUIT goes unanswered (set at the start)
	Quota atomic.Int32 // messages a connection takes; 0: any number
	took  atomic.Int32
}

// Took is how many messages the host answered 250.
func (q *QuietQuit) Took() int { return int(q.took.Load()) }

// StartQuietQuit starts a quiet QuietQuit on 127.0.0.1 for the test's
// life; its connections are closed at the end.
func StartQuietQuit(t testing.TB) *QuietQuit {
	t.Helper()
	q := &QuietQuit{}
	q.Quiet.Store(true)
	q.Addr = Serve(t, q.serve)
	return q
}

func (q *QuietQuit) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprint(c, "220 quiet.example ESMTP\r\n")
	data, took := false, 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if data {
			if line == ".\r\n" {
				data = false
				took++
				q.took.Add(1)
				fmt.Fprint(c, "250 2.0.0 queued\r\n")
			}
			continue
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"):
			fmt.Fprint(c, "250-quiet.example\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n")
		case strings.HasPrefix(cmd, "RCPT") && q.Quota.Load() > 0 && took >= int(q.Quota.Load()):
			fmt.Fprint(c, "452 4.5.3 too many recipients on this connection\r\n")
		case cmd == "DATA":
			data = true
			fmt.Fprint(c, "354 go ahead\r\n")
		case cmd == "QUIT":
			if !q.Quiet.Load() {
				fmt.Fprint(c, "221 bye\r\n")
				return
			}
			// The reply is lost: nothing more comes.
		default:
			fmt.Fprint(c, "250 ok\r\n")
		}
	}
}
