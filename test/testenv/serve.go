package testenv

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
)

// Serve listens on a port of 127.0.0.1 for the test's life and hands
// each connection to handle, in a goroutine of its own; it returns the
// address. The listener and every connection still open are closed at
// the test's end. Tests use it for smarthosts that misbehave in ways no
// real server is set up to (one that never greets, one that offers no
// 8BITMIME).
func Serve(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go handle(c)
		}
	}()
	return l.Addr().String()
}

// ServeLines is Serve for a server that speaks a line protocol: it sends
// greeting (with its CR LF), then answers each line the client sends
// (the command, trimmed of its line end) with what answer returns
// (CR LF added to each line of it), and closes the connection after
// the reply when answer says so.
func ServeLines(t testing.TB, greeting string, answer func(cmd string) (reply string, end bool)) string {
	t.Helper()
	return Serve(t, func(c net.Conn) {
		defer c.Close()
		if _, err := c.Write([]byte(greeting + "\r\n")); err != nil {
			return
		}
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			reply, end := answer(strings.TrimRight(line, "\r\n"))
			if _, err := c.Write([]byte(strings.ReplaceAll(reply, "\n", "\r\n") + "\r\n")); err != nil || end {
				return
			}
		}
	})
}
