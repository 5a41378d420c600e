// Package smtpwire adjusts the dialogue of go-smtp's server where homepost
// answers differently from it. Both of homepost's SMTP servers — the
// agent's listener (smtpd) and sendmail -bs (bsmtp) — run go-smtp over a
// connection wrapped with this package, so that they accept and say the
// same things:
//
//   - Bare names in MAIL FROM and RCPT TO. Local programs name local
//     users as sendmail lets them ("MAIL FROM:<grafana>", "RCPT
//     TO:<root>"), and Postfix accepts them; go-smtp's parser refuses a
//     mailbox without a domain (501 "Was expecting RCPT arg syntax").
//     Reader gives such a path the domain Unqualified before go-smtp
//     sees it; the session finds the bare name again with Bare and
//     qualifies it as it sees fit.
//   - The replies. go-smtp's own texts are fixed on the way out by
//     Writer: a misspelling ("Quiting now") is spelled right, and a
//     path that Reader qualified is shown with the domain the session
//     gives it, never with Unqualified.
//   - A BDAT chunk cut short. go-smtp copies a chunk without noticing
//     that the client's stream ended before the chunk's last byte, and
//     would take "BDAT 30 LAST" followed by 21 bytes and an end of
//     stream for a whole message. Reader reports such an end as an
//     error (ErrChunkCut) within the chunk, so that the transaction
//     fails (451 4.4.2) and nothing is queued.
//   - A SIZE of 4 GiB or more in MAIL. go-smtp parses SIZE as 32 bits
//     and answers a larger one 501, a syntax error, although it is a
//     valid SIZE (RFC 1870: up to 20 digits) that only the session's
//     size limit may refuse. Reader shows go-smtp SizeCap instead and
//     keeps the real value for the session (MailSize).
//
// # Where the message is
//
// Only command lines may be touched, never a byte of a message, so
// Reader follows the dialogue exactly as go-smtp's server reads it:
//
//   - A command line is what go-smtp's parseCmd takes it for (this
//     package has a copy of it), ended by LF.
//   - Whether DATA was accepted depends on the session (go-smtp refuses
//     it without a sender and a recipient, or with an argument); Reader
//     does not guess: it passes on nothing beyond a DATA command line
//     until go-smtp has answered it, and learns the answer from the
//     Writer through which go-smtp replies. Only after a 354 do the next
//     bytes belong to a message. (go-smtp reads a command line only once
//     it has the whole line, and answers DATA before it reads anything
//     more.)
//   - The message of DATA ends where go-smtp's data reader ends it: the
//     same state machine (go-smtp's as patched in third_party/go-smtp,
//     which follows CRs as net/textproto does), in which only CR LF
//     begins a line (a bare LF does not; CRs before the CR LF do not
//     keep it from ending one), and "." CR LF at a line's start is the
//     end.
//   - "BDAT n [LAST]" with go-smtp's own syntax is followed by n bytes of
//     chunk whether go-smtp accepts the chunk or refuses it (it reads
//     and discards a refused one); one with bad syntax (501) by none.
//
// Reader hands go-smtp nothing past the end of a DATA command, of a
// message or of a chunk in the same read, so that go-smtp's buffer
// never holds bytes of the next part of the dialogue that Reader
// treated as another.
package smtpwire

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"unicode"

	"github.com/emersion/go-smtp"
)

// Bare returns the local part of an address that Reader qualified, and
// whether it was one.
func Bare(addr string) (string, bool) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !strings.EqualFold(addr[at+1:], Unqualified) {
		return addr, false
	}
	return addr[:at], true
}

// Unqualified is the domain the Reader gives a path that came without
// one. ".invalid" can never be a real domain (RFC 2606).
const Unqualified = "unqualified.invalid"

// ErrChunkCut is what Reader returns, within a BDAT chunk, when the
// client's stream ends or fails before the chunk's last byte; go-smtp
// answers it to the BDAT command as it is, and closes the message with
// an error, so that nothing is queued.
var ErrChunkCut = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
	Message: "message transfer aborted before the end of the chunk: nothing queued"}

// ErrChunkTimeout is ErrChunkCut for a client that fell silent (a read
// timed out). A server that ends the session at an idle timeout (the
// agent's listener) answers it in its own words instead, and closes.
var ErrChunkTimeout = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
	Message: "idle timeout in the middle of the chunk: nothing queued"}

// What Reader is reading.
const (
	inCommand  = iota // command lines
	inDataWait        // a DATA command was passed on: its reply decides
	inData            // DATA's message
	inChunk           // a BDAT chunk
)

// States of go-smtp's data reader (data.go), in its order.
const (
	dsBeginLine = iota
	dsDot
	dsDotCR
	dsCR
	dsData
)

// Reader is the command stream of a session with bare names given the
// domain Unqualified; everything else passes through as it came.
type Reader struct {
	r       io.Reader
	replies *Writer
	maxLine int
	bareLF  bool

	rbuf []byte // what each read fills, kept from read to read
	buf  []byte // read but not yet looked at (a part of rbuf)
	out  []byte // looked at, to be returned
	obuf []byte // out's storage, used again once out is drained
	line []byte // a command line being collected

	mode    int
	stop    bool   // out ends where the dialogue changes: hand it on first
	ds      int    // inData: go-smtp's data reader's state
	prevCR  bool   // bareLF, inData: the last byte was CR
	raw     int64  // inChunk: bytes still to pass
	passLn  bool   // passing an over-long line through up to its end
	limit   bool   // LimitCommands: an over-long command line is refused here
	replyNo uint64 // inDataWait: the Writer's count of replies at DATA
	err     error
	cutSent bool   // ErrChunkCut was returned
	at      string // "@"+Unqualified (another marker in the tests)

	// chunking: a BDAT transfer is open between its chunks (a chunk
	// without LAST was passed on, and no LAST, RSET or HELO since).
	chunking bool

	// mailSize is the SIZE of the last MAIL command passed on, when it
	// was at least SizeCap (else -1): see MailSize.
	mailSize int64
}

// NewReader reads the client's side of a session from r. replies is the
// Writer through which go-smtp answers on the same session: Reader
// learns from it whether DATA was accepted. maxLine is go-smtp's
// Server.MaxLineLength (0: go-smtp's default of 2000): a command line
// longer than that ends go-smtp's session, and Reader passes it on
// without looking at it.
func NewReader(r io.Reader, replies *Writer, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = 2000
	}
	return &Reader{r: r, replies: replies, maxLine: maxLine, at: "@" + Unqualified, mailSize: -1}
}

// ReadBareLF makes the Reader turn a bare LF into CR LF in command lines
// and in DATA's message, as sendmail -bs does for a person typing; the
// bytes of a BDAT chunk are passed on as they are, bare LFs included
// (they are counted in the chunk's size).
func (q *Reader) ReadBareLF() { q.bareLF = true }

// LimitCommands makes the Reader itself hold command lines to maxLine
// bytes (their CR LF included), for a go-smtp server run without a line
// limit (Server.MaxLineLength 0). go-smtp applies its limit to the lines
// of DATA's message as well, and fails a message with a longer line
// (451, then 500 and the end of the session), although the message is
// streamed in constant memory and sendmail and BDAT take it. The Reader
// knows which bytes are a message's: a command line over the limit, and
// only such a line, is answered by returning smtp.ErrTooLongLine, on
// which go-smtp replies 500 5.4.0 and ends the session, the line never
// held whole.
func (q *Reader) LimitCommands() { q.limit = true }

// tooLong ends the stream at an over-long command line (LimitCommands).
func (q *Reader) tooLong() {
	q.line, q.buf, q.err, q.stop = nil, q.buf[:0], smtp.ErrTooLongLine, true
}

func (q *Reader) Read(p []byte) (int, error) {
	for len(q.out) == 0 {
		q.stop = false
		if q.mode == inDataWait {
			q.mode = inData // unanswered: the safe side, no rewriting
			if q.replies != nil && q.replies.count.Load() != q.replyNo && q.replies.last.Load() != 354 {
				q.mode = inCommand
			}
			q.ds, q.prevCR = dsBeginLine, false
		}
		if len(q.buf) == 0 {
			if q.err != nil {
				if q.mode == inChunk && q.raw > 0 && !q.cutSent {
					// Tell go-smtp the chunk is incomplete (its own
					// copy takes an end of stream for the chunk's
					// end); after that, the error itself.
					q.cutSent = true
					var ne net.Error
					if errors.As(q.err, &ne) && ne.Timeout() {
						return 0, ErrChunkTimeout
					}
					return 0, ErrChunkCut
				}
				// Hand on what is held back: go-smtp sees the
				// partial line and then the error.
				if len(q.line) > 0 {
					q.out, q.line = q.line, nil
					break
				}
				return 0, q.err
			}
			// One buffer for the session: a new one for every read
			// (it escapes to the heap through the io.Reader) made
			// 16 KB of garbage per command line and per piece of a
			// message, and a garbage collection every few dozen
			// messages. step takes in all of buf before the next
			// read, or keeps the rest in buf, so the buffer is free
			// again by then.
			if q.rbuf == nil {
				q.rbuf = make([]byte, 16<<10)
			}
			// The client is waited for: the replies kept back go
			// first (Writer.Hold).
			if q.replies != nil {
				if err := q.replies.Flush(); err != nil {
					return 0, err
				}
			}
			n, err := q.r.Read(q.rbuf)
			q.buf = q.rbuf[:n]
			q.err = err
			if n == 0 && err == nil {
				continue
			}
		}
		q.out = q.obuf[:0]
		q.step()
		q.obuf = q.out[:0]
	}
	n := copy(p, q.out)
	q.out = q.out[n:]
	return n, nil
}

// step moves what it can from buf to out, up to the next change of what
// go-smtp reads.
func (q *Reader) step() {
	for len(q.buf) > 0 && !q.stop {
		switch {
		case q.mode == inChunk:
			n := int(min(q.raw, int64(len(q.buf))))
			q.out = append(q.out, q.buf[:n]...)
			q.buf, q.raw = q.buf[n:], q.raw-int64(n)
			if q.raw == 0 {
				q.mode, q.stop = inCommand, true
			}
		case q.mode == inData:
			q.data()
		case q.passLn:
			i := bytes.IndexByte(q.buf, '\n')
			if i < 0 {
				q.out = append(q.out, q.buf...)
				q.buf = q.buf[:0]
				continue
			}
			q.out = append(q.out, q.buf[:i+1]...)
			q.buf, q.passLn = q.buf[i+1:], false
		default:
			i := bytes.IndexByte(q.buf, '\n')
			n := len(q.buf) // of the line, in buf
			if i >= 0 {
				n = i + 1
			}
			if q.limit && len(q.line)+n > q.maxLine {
				q.tooLong()
				continue
			}
			if i < 0 {
				q.line = append(q.line, q.buf...)
				q.buf = q.buf[:0]
				if len(q.line) > q.maxLine+2 {
					// Longer than go-smtp takes: it ends the
					// session before it looks at the line.
					q.out, q.line, q.passLn = append(q.out, q.line...), nil, true
				}
				continue
			}
			q.line = append(q.line, q.buf[:i+1]...)
			q.buf = q.buf[i+1:]
			if q.bareLF && (len(q.line) < 2 || q.line[len(q.line)-2] != '\r') {
				q.line = append(q.line[:len(q.line)-1], '\r', '\n')
			}
			q.out = append(q.out, q.command(q.line)...)
			q.line = q.line[:0]
			// One command line at a time, so that go-smtp holds no
			// more than the command it answers and Pending says
			// whether the client has sent more.
			q.stop = true
		}
	}
}

// InTransfer reports whether the Reader is within a message: DATA's,
// a BDAT chunk, or a BDAT transfer between two chunks (go-smtp also
// ends a transfer at an error; the Reader then takes it for open until
// the next RSET, HELO, EHLO or BDAT LAST). For the Reader's own reads
// (its io.Reader), which run in the goroutine that called Read.
func (q *Reader) InTransfer() bool {
	return q.mode == inData || q.mode == inChunk || q.chunking
}

// Pending reports whether the client has sent bytes that go-smtp has not
// read yet: while it has, a reply may wait to go with the next ones
// (Writer.Hold).
func (q *Reader) Pending() bool { return len(q.buf) > 0 || len(q.out) > 0 }

// data passes DATA's message from buf to out up to its end, following
// go-smtp's data reader (data.go) byte by byte.
func (q *Reader) data() {
	i := 0
	for i < len(q.buf) {
		c := q.buf[i]
		if q.bareLF && c == '\n' && !q.prevCR {
			// A bare LF is read as CR LF: pass the CR on here, and
			// the LF as the next byte.
			q.out = append(q.out, q.buf[:i]...)
			q.out = append(q.out, '\r')
			q.buf, i = q.buf[i:], 0
			q.prevCR = true
			q.next('\r')
			continue
		}
		q.prevCR = c == '\r'
		i++
		if q.next(c) {
			q.mode, q.stop = inCommand, true
			break
		}
	}
	q.out = append(q.out, q.buf[:i]...)
	q.buf = q.buf[i:]
}

// next moves go-smtp's data reader on by c, and reports whether c ended
// the message.
func (q *Reader) next(c byte) bool {
	switch q.ds {
	case dsBeginLine:
		switch c {
		case '.':
			q.ds = dsDot
		case '\r':
			q.ds = dsCR
		default:
			q.ds = dsData
		}
	case dsDot:
		if c == '\r' {
			q.ds = dsDotCR
		} else {
			q.ds = dsData
		}
	case dsDotCR:
		if c == '\n' {
			return true
		}
		// The saved CR is data, and c is read again after it.
		q.ds = dsData
		if c == '\r' {
			q.ds = dsCR
		}
	case dsCR:
		switch c {
		case '\n':
			q.ds = dsBeginLine
		case '\r': // may be the CR of a CR LF
		default:
			q.ds = dsData
		}
	case dsData:
		if c == '\r' {
			q.ds = dsCR
		}
	}
	return false
}

// command looks at one command line as go-smtp will: it qualifies the
// path of MAIL and RCPT, and notes where a message or a chunk begins.
func (q *Reader) command(line []byte) []byte {
	cmd, arg, at := parseCmd(string(line[:len(line)-1]))
	switch cmd {
	case "DATA":
		// Accepted or refused, go-smtp answers before it reads on.
		q.mode, q.stop = inDataWait, true
		if q.replies != nil {
			q.replyNo = q.replies.count.Load()
		}
	case "BDAT":
		// go-smtp's handleBdat: the chunk follows unless the
		// command's syntax is refused (501).
		args := strings.Fields(arg)
		if len(args) == 0 || len(args) > 2 || len(args) == 2 && !strings.EqualFold(args[1], "LAST") {
			break
		}
		n, err := strconv.ParseUint(args[0], 10, 32)
		if err != nil {
			break
		}
		q.chunking = len(args) == 1
		if n > 0 {
			q.mode, q.raw, q.stop = inChunk, int64(n), true
		}
	case "RSET", "HELO", "EHLO", "QUIT":
		q.chunking = false
	case "MAIL":
		if len(arg) >= 5 && strings.EqualFold(arg[:5], "FROM:") {
			line = qualifyPath(line, at+5, q.at)
			q.mailSize = -1
			if out, n, ok := wideSize(line, at+5); ok {
				// go-smtp handles this line before it reads on,
				// while mailSize is still this line's (MailSize).
				line, q.mailSize, q.stop = out, n, true
			}
		}
	case "RCPT":
		if len(arg) >= 3 && strings.EqualFold(arg[:3], "TO:") {
			return qualifyPath(line, at+3, q.at)
		}
	}
	return line
}

// SizeCap is the SIZE that go-smtp is shown for a MAIL command whose
// SIZE is at least that: the largest it parses (32 bits).
const SizeCap = math.MaxUint32

// MailSize is the SIZE of a MAIL command that go-smtp was shown as
// SizeCap, as the client gave it (math.MaxInt64 for one beyond 63
// bits): a session whose MAIL has SizeCap asks for the real one here.
// go-smtp parses SIZE as 32 bits and refuses a larger one (501
// "Unable to parse SIZE as an integer"), although RFC 1870 allows 20
// digits and a message over 4 GiB is the limit's business (552).
// The Reader hands on nothing after such a line until go-smtp reads
// again, so while go-smtp handles it, it is the last MAIL passed on.
func (q *Reader) MailSize() (int64, bool) {
	return q.mailSize, q.mailSize >= 0
}

// wideSize finds a SIZE parameter of at least SizeCap in the MAIL
// command line whose path starts at line[at:], and returns the line
// with SizeCap in its place, and the value (saturated at
// math.MaxInt64). A SIZE that is not all digits is left for go-smtp to
// refuse.
func wideSize(line []byte, at int) ([]byte, int64, bool) {
	rest := line[at:]
	i := len(rest) - len(bytes.TrimLeft(rest, " "))
	// Past the path: a <...> with quoted strings and backslash
	// escapes skipped, or a word.
	if i < len(rest) && rest[i] == '<' {
		quoted := false
		for i++; i < len(rest); i++ {
			c := rest[i]
			if c == '\\' {
				i++
			} else if c == '"' {
				quoted = !quoted
			} else if c == '>' && !quoted {
				i++
				break
			}
		}
	}
	for i < len(rest) && rest[i] != ' ' {
		i++
	}
	for i < len(rest) {
		for i < len(rest) && rest[i] == ' ' {
			i++
		}
		j := i
		for j < len(rest) && rest[j] != ' ' && rest[j] != '\r' && rest[j] != '\n' {
			j++
		}
		param := rest[i:j]
		if len(param) > 5 && bytes.EqualFold(param[:5], []byte("SIZE=")) {
			digits := param[5:]
			n, ok := int64(0), true
			for _, c := range digits {
				if c < '0' || c > '9' {
					ok = false
					break
				}
				if n > (math.MaxInt64-9)/10 {
					n = math.MaxInt64
				} else {
					n = n*10 + int64(c-'0')
				}
			}
			if !ok || n < SizeCap {
				return line, 0, false
			}
			out := make([]byte, 0, len(line))
			out = append(out, line[:at+i+5]...)
			out = strconv.AppendUint(out, SizeCap, 10)
			out = append(out, line[at+j:]...)
			return out, n, true
		}
		if j == i {
			break
		}
		i = j
	}
	return line, 0, false
}

// parseCmd is go-smtp's (parse.go): the command and its argument as
// go-smtp's server takes them from line (without its LF), and where the
// argument begins in line.
func parseCmd(line string) (cmd, arg string, at int) {
	line = strings.TrimRight(line, "\r\n")
	l := len(line)
	switch {
	case strings.HasPrefix(strings.ToUpper(line), "STARTTLS"):
		return "STARTTLS", "", l
	case l < 4 || l == 5:
		return "", "", l
	case l == 4:
		return strings.ToUpper(line), "", l
	}
	if line[4] != ' ' {
		return "", "", l
	}
	rest := line[5:]
	arg = strings.TrimSpace(rest)
	return strings.ToUpper(line[0:4]), arg, 5 + len(rest) - len(strings.TrimLeftFunc(rest, unicode.IsSpace))
}

// qualifyPath adds marker ("@"+Unqualified) to the path that starts at
// line[at:] when it has no "@" (and is not the null path "<>").
func qualifyPath(line []byte, at int, marker string) []byte {
	rest := line[at:]
	lead := len(rest) - len(bytes.TrimLeft(rest, " "))
	rest = rest[lead:]
	end := bytes.IndexAny(rest, " \r\n")
	if end < 0 {
		end = len(rest)
	}
	path := rest[:end]
	if bytes.HasPrefix(path, []byte{'<'}) {
		e := bytes.IndexByte(path, '>')
		if e < 0 {
			return line
		}
		path = path[:e+1]
	}
	inner := bytes.TrimSuffix(bytes.TrimPrefix(path, []byte{'<'}), []byte{'>'})
	if len(inner) == 0 || bytes.ContainsAny(inner, "@\"\\") {
		return line
	}
	cut := at + lead + len(path)
	if path[len(path)-1] == '>' {
		cut--
	}
	out := make([]byte, 0, len(line)+len(marker))
	out = append(out, line[:cut]...)
	out = append(out, marker...)
	return append(out, line[cut:]...)
}
