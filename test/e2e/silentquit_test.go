package e2e

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"homepost/test/testenv"
)

// quietQuitRelay is a smarthost that takes every message and, while
// quiet is set, never answers QUIT: a connection that a NAT or a
// suspended laptop dropped right after the last reply looks so. took
// counts the messages it answered 250.
func quietQuitRelay(t *testing.T) (addr string, took, quiet *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	took, quiet = &atomic.Int32{}, &atomic.Int32{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				fmt.Fprint(c, "220 quiet.example ESMTP\r\n")
				data := false
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if data {
						if line == ".\r\n" {
							data = false
							took.Add(1)
							fmt.Fprint(c, "250 2.0.0 queued\r\n")
						}
						continue
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "EHLO"):
						fmt.Fprint(c, "250-quiet.example\r\n250 8BITMIME\r\n")
					case cmd == "DATA":
						data = true
						fmt.Fprint(c, "354 go ahead\r\n")
					case cmd == "QUIT":
						if quiet.Load() == 0 {
							fmt.Fprint(c, "221 bye\r\n")
							return
						}
						// The reply is lost: nothing more comes.
						time.Sleep(time.Minute)
						return
					default:
						fmt.Fprint(c, "250 ok\r\n")
					}
				}
			}()
		}
	}()
	return l.Addr().String(), took, quiet
}

// Once the smarthost has answered a message's data with 250, the agent
// records it as sent without waiting for the reply to QUIT: a kill (an
// OOM, a power loss, a laptop's battery) while a lost QUIT reply is
// waited for (command_timeout, 5 minutes by default) must not make the
// next agent send the message again.
func TestKillWhileQuitUnansweredSendsOnce(t *testing.T) {
	t.Parallel()
	addr, took, quiet := quietQuitRelay(t)
	quiet.Store(1)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ncommand_timeout = \"60s\"\n", addr))
	agent := e.StartAgent()
	e.MustSend("Subject: far\n\nb\n", "x@remote.example")
	e.WaitFor(func() bool { return took.Load() == 1 }, "the smarthost's 250")
	// Recorded as sent, and the file retired, soon after the 250.
	deadline := time.Now().Add(5 * time.Second)
	for len(testenv.Files(e.Outbox("cur")))+len(testenv.Files(e.Outbox("new"))) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	agent.Process.Kill()
	agent.Wait()
	quiet.Store(0)
	e.Once()
	if n := took.Load(); n != 1 {
		t.Errorf("the smarthost got the message %d times", n)
	}
}
