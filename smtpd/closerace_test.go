package smtpd

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Close stops every transfer that a session has begun before it
// returns: a BDAT transfer's Data, which go-smtp starts in a goroutine
// of its own at the first chunk, may not have run yet when Close looks
// for transfers under way, and one that ran after would create its
// draft in outbox/tmp (and even queue its message) with the agent gone:
// a process that exits right then leaves the draft for the cleanup of
// abandoned files, 36 hours on. Clients send BDAT chunks, session after
// session, while Close comes at a random moment, many times: no draft is
// created in tmp/ once Close has returned, none is left, and each
// message answered 250 is in outbox/new.
func TestCloseBeginsNoTransferAfter(t *testing.T) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var late []string
	var lateMu sync.Mutex
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Has(fsnotify.Create) && !strings.HasPrefix(filepath.Base(ev.Name), "spare.") {
					lateMu.Lock()
					late = append(late, ev.Name)
					lateMu.Unlock()
				}
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
			}
		}
	}()

	const rounds, clients = 400, 2
	msg := "Subject: race\r\n\r\n" + strings.Repeat("x", 200) + "\r\n"
	for round := range rounds {
		ts := startServer(t, os.Getuid(), nil)
		var wg sync.WaitGroup
		answered := make(chan string, 10000)
		var ready sync.WaitGroup
		for range clients {
			ready.Add(1)
			wg.Go(func() { sendBDAT(ts.unix, msg, ready.Done, answered) })
		}
		ready.Wait()
		time.Sleep(time.Duration(rand.IntN(10000)) * time.Microsecond)
		ts.s.Close(0)
		tmp := filepath.Join(ts.cfg.Outbox, "tmp")
		if err := w.Add(tmp); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if dr := drafts(ts.cfg); len(dr) != 0 {
			t.Fatalf("round %d: drafts left in outbox/tmp when Close returned: %v", round, dr)
		}
		wg.Wait()
		close(answered)
		q := queued(t, ts.cfg)
		for id := range answered {
			found := false
			for name := range q {
				found = found || strings.Contains(name, "."+id+".")
			}
			if !found {
				t.Fatalf("round %d: %s answered 250, not in outbox/new", round, id)
			}
		}
		for _, m := range q {
			m.Close()
		}
	}
	// A transfer begun after Close would have made its draft within
	// this time.
	time.Sleep(300 * time.Millisecond)
	w.Close()
	<-watched
	if len(late) > 0 {
		t.Errorf("%d drafts created in outbox/tmp after Close returned: %v", len(late), late)
	}
}

// sendBDAT sends msg to the listener at addr over one connection after
// another until the listener is closed: MAIL, RCPT and a BDAT chunk
// pipelined, the last chunk on every fourth connection, the first
// chunk of a message cut off by the client's going away on the
// others. It sends the queue ID of each message answered 250 to
// answered, and calls ready once the first session has begun.
func sendBDAT(addr, msg string, ready func(), answered chan<- string) {
	ready = sync.OnceFunc(ready)
	defer ready()
	env := "MAIL FROM:<a@b.example>\r\nRCPT TO:<me@testhost.example>\r\n"
	whole := fmt.Sprintf("%sBDAT %d LAST\r\n%s", env, len(msg), msg)
	cut := fmt.Sprintf("%sBDAT %d\r\n%s", env, len(msg), msg)
	for k := 0; ; k++ {
		c, err := net.Dial("unix", addr)
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(c)
		reply := func() (string, bool) {
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return "", false
				}
				if len(line) < 4 || line[3] != '-' {
					return strings.TrimRight(line, "\r\n"), true
				}
			}
		}
		txn := cut
		if k%4 == 3 {
			txn = whole
		}
		ok := false
		if _, ok = reply(); ok {
			_, err = c.Write([]byte("EHLO c\r\n"))
			_, ok = reply()
			ok = ok && err == nil
		}
		if ok {
			ready()
			_, err = c.Write([]byte(txn))
			for i := 0; i < 3 && err == nil && ok; i++ {
				var line string
				line, ok = reply()
				if id, found := strings.CutPrefix(line, "250 2.0.0 Ok: queued as "); found {
					answered <- id
				}
			}
		}
		c.Close()
		if !ok {
			return
		}
	}
}
