package review

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// homepost check --relay tells of a smarthost that offers no 8BITMIME
// (nor SMTPUTF8): 8-bit mail goes to it unchanged, and mail with UTF-8
// addresses bounces. It said only "reachable". A smarthost that offers
// both gets no such warning.
func TestCheckRelayNo8BitMIME(t *testing.T) {
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
				c.Write([]byte("220 old.example ESMTP\r\n"))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "EHLO"):
						c.Write([]byte("250-old.example\r\n250 SIZE 10240000\r\n"))
					case cmd == "QUIT":
						c.Write([]byte("221 bye\r\n"))
						return
					default:
						c.Write([]byte("250 ok\r\n"))
					}
				}
			}()
		}
	}()
	e := testenv.New(t, "[relay]\nurl = \"smtp://"+l.Addr().String()+"\"\nfrom = \"me@example.org\"\n")
	out, stderr, _ := e.Run(nil, "homepost", "check", "--relay")
	if !strings.Contains(out, "ok   relay: smtp://"+l.Addr().String()+" reachable") ||
		!strings.Contains(out, "warn relay: smtp://"+l.Addr().String()+" offers no 8BITMIME") ||
		!strings.Contains(out, "nor SMTPUTF8") {
		t.Errorf("check --relay, a smarthost without 8BITMIME:\n%s%s", out, stderr)
	}

	host := testenv.StartSmarthost(t)
	e = testenv.New(t, "[relay]\nurl = \"smtp://"+host.Addr+"\"\nfrom = \"me@example.org\"\n")
	out, stderr, _ = e.Run(nil, "homepost", "check", "--relay")
	if !strings.Contains(out, "reachable") || strings.Contains(out, "8BITMIME") {
		t.Errorf("check --relay, a smarthost with 8BITMIME:\n%s%s", out, stderr)
	}
}
