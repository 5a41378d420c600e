package e2e

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// A smarthost that greets with "554 5.7.1 go away" refuses service for
// now: the mail is deferred (Postfix's smtp_skip_5xx_greeting), mailq
// shows the server's reply, and no DSN comes back.
func TestGreeting5xxDefers(t *testing.T) {
	t.Parallel()
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
				c.Write([]byte("554 5.7.1 go away\r\n"))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if strings.HasPrefix(strings.ToUpper(line), "QUIT") {
						c.Write([]byte("221 2.0.0 bye\r\n"))
						return
					}
					c.Write([]byte("503 5.5.1 no service\r\n"))
				}
			}()
		}
	}()
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", l.Addr()))
	e.MustSend("Subject: s\n\nb\n", "a@remote.example", "b@remote.example")
	e.Once()
	q, _, _ := e.Run(nil, "mailq")
	if !strings.Contains(q, "a@remote.example") || !strings.Contains(q, "b@remote.example") ||
		!strings.Contains(q, "554 5.7.1 go away") {
		t.Errorf("mailq:\n%s", q)
	}
	js, _, _ := e.Run(nil, "mailq", "--json")
	if !strings.Contains(js, `"queue_name":"deferred"`) {
		t.Errorf("mailq --json:\n%s", js)
	}
	if n := testenv.Files(e.Path("Maildir", "new")); len(n) != 0 {
		t.Errorf("a DSN came back: %v", n)
	}
}
