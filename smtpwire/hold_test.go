package smtpwire

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// chunks is a client's side of a session that arrives in pieces, one
// a read.
type chunks []string

func (c *chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	(*c)[0] = (*c)[0][n:]
	if (*c)[0] == "" {
		*c = (*c)[1:]
	}
	return n, nil
}

// writes records each write to the socket.
type writes []string

func (w *writes) Write(p []byte) (int, error) {
	*w = append(*w, string(p))
	return len(p), nil
}

// A pipelined group (MAIL, RCPT and DATA in one piece) is answered in
// one write, once go-smtp has read the whole group; a command sent on
// its own is answered at once, in a write of its own.
func TestHoldAnswersAGroupInOneWrite(t *testing.T) {
	be := &recBackend{}
	srv := smtp.NewServer(be)
	srv.Domain = "test.example"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = nopLog{}
	var out writes
	w := &Writer{W: &out}
	in := chunks{
		"EHLO x\r\n",
		"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n",
		"Subject: s\r\n\r\nbody\r\n.\r\n",
		"MAIL FROM:<a@b.example>\r\n",
		"RCPT TO:<c@d.example>\r\nRCPT TO:<e@d.example>\r\nBDAT 5 LAST\r\nhello",
		"QUIT\r\n",
	}
	q := NewReader(&in, w, 0)
	w.Hold = q.Pending
	c := &streamConn{r: q, w: w, done: make(chan struct{})}
	srv.Serve(&oneListener{c: c})
	srv.Shutdown(context.Background())
	codes := func(s string) string {
		var cs []string
		for _, l := range strings.SplitAfter(s, "\n") {
			if len(l) >= 4 && l[3] == ' ' {
				cs = append(cs, l[:3])
			}
		}
		return strings.Join(cs, " ")
	}
	var got []string
	for _, s := range out {
		got = append(got, codes(s))
	}
	want := []string{"220", "250", "250 250 354", "250", "250", "250 250 250", "221"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("writes (the codes of each):\n got %q\nwant %q", got, want)
	}
	if len(be.msgs) != 2 || be.msgs[0] != "Subject: s\r\n\r\nbody\r\n" || be.msgs[1] != "hello" {
		t.Errorf("messages %q", be.msgs)
	}
}
