package smtpwire

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// A go-smtp server, set up as homepost's are, run over a Reader and a
// Writer on a byte stream that a client sent all at once.

type recBackend struct {
	mu      sync.Mutex
	started int      // calls of Data (a BDAT transfer's run in a goroutine)
	msgs    []string // the bytes each Data read, whole or not
	ok      []bool   // whether the message came to its end
}

func (b *recBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &recSession{b: b}, nil }

type recSession struct{ b *recBackend }

func (s *recSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *recSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *recSession) Reset()                               {}
func (s *recSession) Logout() error                        { return nil }
func (s *recSession) Data(r io.Reader) error {
	s.b.mu.Lock()
	s.b.started++
	s.b.mu.Unlock()
	b, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, string(b))
	s.b.ok = append(s.b.ok, err == nil)
	s.b.mu.Unlock()
	return err
}

// streamConn is a net.Conn whose reads come from a Reader.
type streamConn struct {
	r    io.Reader
	w    io.Writer
	once sync.Once
	done chan struct{}
}

func (c *streamConn) Read(p []byte) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	return c.r.Read(p)
}
func (c *streamConn) Write(p []byte) (int, error)      { return c.w.Write(p) }
func (c *streamConn) Close() error                     { c.once.Do(func() { close(c.done) }); return nil }
func (c *streamConn) LocalAddr() net.Addr              { return fakeAddr{} }
func (c *streamConn) RemoteAddr() net.Addr             { return fakeAddr{} }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

type fakeAddr struct{}

func (fakeAddr) Network() string { return "pipe" }
func (fakeAddr) String() string  { return "pipe" }

type oneListener struct {
	c    *streamConn
	used bool
}

func (l *oneListener) Accept() (net.Conn, error) {
	if !l.used {
		l.used = true
		return l.c, nil
	}
	<-l.c.done
	return nil, net.ErrClosed
}
func (l *oneListener) Close() error   { return nil }
func (l *oneListener) Addr() net.Addr { return fakeAddr{} }

type session struct {
	replies string   // what the server answered
	passed  string   // what the Reader handed go-smtp
	msgs    []string // the messages go-smtp handed the backend
	ok      []bool
}

// serve runs one session on in. marker replaces "@"+Unqualified when
// not empty.
func serve(in string, marker string, bareLF bool) session {
	be := &recBackend{}
	srv := smtp.NewServer(be)
	srv.Domain = "test.example"
	srv.MaxMessageBytes = 300
	srv.MaxLineLength = 100
	srv.AllowInsecureAuth = true
	srv.ErrorLog = nopLog{}
	var replies, passed bytes.Buffer
	w := &Writer{W: &replies}
	q := NewReader(strings.NewReader(in), w, srv.MaxLineLength)
	w.Hold = q.Pending // as the listener has it
	if marker != "" {
		q.at = marker
	}
	if bareLF {
		q.ReadBareLF()
	}
	c := &streamConn{r: io.TeeReader(q, &passed), w: w, done: make(chan struct{})}
	srv.Serve(&oneListener{c: c})
	srv.Shutdown(context.Background())
	// A BDAT transfer's Data runs in a goroutine of its own: let it end.
	for i := 0; i < 1000; i++ {
		be.mu.Lock()
		busy := be.started != len(be.msgs)
		be.mu.Unlock()
		if !busy && (i > 0 || !strings.Contains(strings.ToUpper(in), "BDAT")) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	return session{replies.String(), passed.String(), be.msgs, be.ok}
}

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Println(...any)        {}

// testMarker stands for "@"+Unqualified in the fuzzing: bytes that a
// stream taken for the test does not hold, so that any of them in a
// message can only come from the Reader.
const testMarker = "@jkw"

// checkSession runs in through go-smtp behind a Reader and checks that
// the Reader only added testMarker to the stream, and never to a
// message.
func checkSession(t *testing.T, in string) session {
	t.Helper()
	if strings.Contains(in, testMarker) {
		t.Skip()
	}
	for _, bareLF := range []bool{false, true} {
		s := serve(in, testMarker, bareLF)
		if !bareLF {
			if got := strings.ReplaceAll(s.passed, testMarker, ""); !strings.HasPrefix(in, got) {
				t.Errorf("stream changed beyond the marker:\nin   %q\ngot  %q", in, s.passed)
			}
		}
		for _, m := range s.msgs {
			if strings.Contains(m, testMarker) {
				t.Errorf("bareLF %v: message altered: %q\nin %q\nreplies:\n%s", bareLF, m, in, s.replies)
			}
		}
	}
	return serve(in, testMarker, false)
}

var seeds = []string{
	// A refused DATA (no transaction) leaves the next commands commands.
	"EHLO x\r\nDATA\r\nMAIL FROM:<b>\r\nRCPT TO:<root>\r\nDATA\r\nSubject: a\r\n\r\nbody\r\n.\r\nQUIT\r\n",
	"EHLO x\r\nMAIL FROM:<grafana> SIZE=99999999\r\nRCPT TO:<root>\r\nDATA\r\nRSET\r\nMAIL FROM:<grafana> SIZE=100\r\nRCPT TO:<root>\r\nDATA\r\nhi\r\n.\r\n",
	// A bare LF does not begin a line in go-smtp's data reader.
	"EHLO x\r\nMAIL FROM:<grafana>\r\nRCPT TO:<root>\r\nDATA\r\nSubject: modified?\r\n\r\nA log excerpt:\n.\r\nRCPT TO:<postmaster>\r\nMAIL FROM:<grafana> SIZE=10\r\nend\r\n.\r\nQUIT\r\n",
	"EHLO x\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\nx\r\r\n.\r\nRCPT TO:<c>\r\n.\r\n",
	// Chunks, refused or not; a BDAT with bad syntax has no chunk.
	"EHLO x\r\nBDAT 14\r\nRCPT TO:<c>\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nBDAT 5 FOO\r\nRCPT TO:<d>\r\nBDAT 13 LAST\r\nRCPT TO:<e>\r\n",
	"EHLO x\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nBDAT 000013   last\r\nRCPT TO:<e>\r\nRCPT TO:<f>\r\n",
	"EHLO x\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nBDAT 400 LAST\r\n" + strings.Repeat("RCPT TO:<f>\r\n", 40),
	// DATA with an argument, or spaces, or misspelt.
	"EHLO x\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA x\r\nRCPT TO:<c>\r\nDATA  \r\nRCPT TO:<d>\r\n.\r\n DATA\r\nRCPT TO:<e>\r\n",
	// A message over the size limit, and a line over the line limit.
	"EHLO x\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n" + strings.Repeat("RCPT TO:<f>\r\n", 30) + ".\r\nRCPT TO:<g>\r\n",
	"EHLO x\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n" + strings.Repeat("x", 200) + "\r\nRCPT TO:<f>\r\n.\r\n",
	"EHLO x\r\nMAIL FROM:<a>\r\nRCPT TO:<b" + strings.Repeat(" ", 200) + ">\r\nDATA\r\nRCPT TO:<f>\r\n.\r\n",
	"EHLO x\r\nAUTH PLAIN\r\nRCPT TO:<x>\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\nRCPT TO:<f>\r\n.\r\n",
	"HELO x\nMAIL FROM:<a>\nRCPT TO:<b>\nDATA\nRCPT TO:<f>\n.\nRCPT TO:<g>\n.\r\n",
	// CRs after a leading dot and before a line's CR LF.
	"EHLO x\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n.\r\r\n.\rx\r\r\r\n.\r\nRCPT TO:<c>\r\n.\r\n",
}

// FuzzServer: whatever the client sends, the message bytes go-smtp
// hands the session are bytes the client sent as message: the Reader
// adds its domain to command lines only, never within DATA or a chunk.
func FuzzServer(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { checkSession(t, in) })
}

// The bare names after a refused DATA are qualified; a line that looks
// like a command after a bare LF in a message is message.
func TestFollowsServer(t *testing.T) {
	for _, in := range seeds {
		checkSession(t, in)
	}
	s := checkSession(t, seeds[1])
	if strings.Contains(s.replies, "501") || len(s.msgs) != 1 || s.msgs[0] != "hi\r\n" {
		t.Errorf("after a refused DATA: %q\nreplies:\n%s", s.msgs, s.replies)
	}
	s = checkSession(t, seeds[0])
	if strings.Contains(s.replies, "501") || len(s.msgs) != 1 {
		t.Errorf("after DATA without a transaction: %q\nreplies:\n%s", s.msgs, s.replies)
	}
	s = checkSession(t, seeds[2])
	want := "Subject: modified?\r\n\r\nA log excerpt:\n.\r\nRCPT TO:<postmaster>\r\nMAIL FROM:<grafana> SIZE=10\r\nend\r\n"
	if len(s.msgs) != 1 || s.msgs[0] != want {
		t.Errorf("message %q, want %q", s.msgs, want)
	}
	// A bare CR before the line's CR LF: the next line begins a line
	// (go-smtp as patched in third_party, and net/textproto).
	s = checkSession(t, seeds[3])
	if len(s.msgs) != 1 || s.msgs[0] != "x\r\r\n" || !strings.Contains(s.passed, "RCPT TO:<c"+testMarker+">") {
		t.Errorf("message %q, passed %q", s.msgs, s.passed)
	}
	s = checkSession(t, seeds[5])
	if len(s.msgs) != 1 || s.msgs[0] != "RCPT TO:<e>\r\n" || !strings.Contains(s.passed, "RCPT TO:<f"+testMarker+">") {
		t.Errorf("chunk: %q, passed %q", s.msgs, s.passed)
	}
}

// A chunk cut short by the end of the stream is an error to go-smtp:
// the message does not come to its end.
func TestChunkCut(t *testing.T) {
	s := serve("EHLO x\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nBDAT 30 LAST\r\nSubject: abort9\r\n\r\nab", "", false)
	if len(s.ok) != 1 || s.ok[0] {
		t.Errorf("messages %q, complete %v", s.msgs, s.ok)
	}
	if !strings.Contains(s.replies, "451 4.4.2 ") || strings.Contains(s.replies, "250 2.0.0 OK") {
		t.Errorf("replies:\n%s", s.replies)
	}
}
