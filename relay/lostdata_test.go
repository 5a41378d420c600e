package relay

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"

	"homepost/courier"
	"homepost/outbox"
)

// droppingServer takes a message whole and closes the connection
// without answering the final dot, as a smarthost that is stopped or
// crashes at that moment does (Postfix's smtpd killed by postfix stop).
func droppingServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
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
			}()
		}
	}()
	return l.Addr().String()
}

// A connection lost after the final dot went out leaves the smarthost
// perhaps holding the message: the reason says that the retry may
// deliver it twice (as Postfix's "message may be sent more than once"),
// so that a user who finds it twice knows why.
func TestLostAtEndOfDataSaysMaybeTwice(t *testing.T) {
	addr := droppingServer(t)
	res := newClient(t, testConfig(t, "smtp://"+addr)).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "a@example.org")})
	status(t, res[0], outbox.Deferred)
	r := res[0][0]
	for _, want := range []string{"lost connection with 127.0.0.1", "end of data", "may arrive twice"} {
		if !strings.Contains(r.Reason, want) {
			t.Errorf("reason %q\nwant it to say %q", r.Reason, want)
		}
	}
}
