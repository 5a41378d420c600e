package relay

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"homepost/courier"
	"homepost/outbox"
	"homepost/test/testenv"
)

// droppingServer takes a message whole and closes the connection
// without answering the final dot, as a smarthost that is stopped or
// crashes at that moment does (Postfix's smtpd killed by postfix stop);
// with hang, it keeps the connection open without answering.
func droppingServer(t *testing.T, hang bool) string {
	t.Helper()
	return testenv.Serve(t, func(c net.Conn) {
		defer c.Close()
		r := bufio.NewReader(c)
		c.Write([]byte("220 drop.test ESMTP\r\n"))
		data := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch {
			case data && line == ".\r\n":
				if hang {
					r.ReadString('\n') // until the client closes
				}
				return
			case data:
			case strings.HasPrefix(strings.ToUpper(line), "EHLO"):
				c.Write([]byte("250 drop.test\r\n"))
			case strings.HasPrefix(strings.ToUpper(line), "DATA"):
				data = true
				c.Write([]byte("354 go on\r\n"))
			default:
				c.Write([]byte("250 ok\r\n"))
			}
		}
	})
}

// A connection lost after the final dot went out leaves the smarthost
// perhaps holding the message: the reason says that the retry may
// deliver it twice (as Postfix's "message may be sent more than once"),
// so that a user who finds it twice knows why.
func TestLostAtEndOfDataSaysMaybeTwice(t *testing.T) {
	addr := droppingServer(t, false)
	res := newClient(t, testConfig(t, "smtp://"+addr)).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Deferred)
	r := res[0][0]
	for _, want := range []string{"lost connection with 127.0.0.1", "end of data", "may arrive twice"} {
		if !strings.Contains(r.Reason, want) {
			t.Errorf("reason %q\nwant it to say %q", r.Reason, want)
		}
	}
}

// A delivery stopped while it awaited the answer to its final dot (an
// agent's stop, a reload that replaced [relay], after their grace) is
// sent again: its reason says that it may arrive twice too. One stopped
// before the final dot went says that the smarthost discards it.
func TestStoppedAtEndOfDataSaysMaybeTwice(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration // from the wait for the answer to the stop
		want  string
	}{
		{"before the dot", 0, "delivery stopped before the final dot went to 127.0.0.1: the smarthost discards the message"},
		{"after the dot", 200 * time.Millisecond, "delivery stopped during end of data with 127.0.0.1: the smarthost may have taken the message before the connection ended, so it may arrive twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := droppingServer(t, true)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctx = courier.WithAwaiting(ctx, func(on bool) {
				switch {
				case on && tc.delay == 0:
					cancel()
				case on:
					time.AfterFunc(tc.delay, cancel)
				}
			})
			res := newClient(t, testConfig(t, "smtp://"+addr)).Send(ctx, []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
			status(t, res[0], outbox.Deferred)
			if r := res[0][0].Reason; r != tc.want {
				t.Errorf("reason %q\nwant      %q", r, tc.want)
			}
		})
	}
}
