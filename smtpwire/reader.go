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
//
// Only command lines are touched: Reader follows the dialogue well
// enough to pass message bytes through untouched. After a DATA command
// everything up to the line holding a single dot is message; after
// "BDAT n", the next n bytes are. A DATA that the server refuses makes
// it treat the next commands as message too, which leaves them as they
// are: at worst an unqualified address is then refused, never a message
// changed.
package smtpwire

import (
	"bytes"
	"io"
	"strconv"
	"strings"
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

// maxCmdLine is the longest command line held back to be looked at;
// a longer line is passed on as it is (go-smtp then refuses it).
const maxCmdLine = 4096

// Reader is the command stream of a session with bare names given the
// domain Unqualified; everything else passes through as it came.
type Reader struct {
	r    io.Reader
	rbuf []byte // what each read fills, kept from read to read
	buf  []byte // read but not yet looked at (a part of rbuf)
	out  []byte // looked at, to be returned
	obuf []byte // out's storage, used again once out is drained
	line []byte // a command line being collected

	data   bool  // in DATA's message
	bol    int   // within DATA: 0 at a line start, 1 after ".", 2 after ".\r", -1 mid-line
	raw    int64 // bytes of a BDAT chunk still to pass
	passLn bool  // passing an over-long line through up to its end
	err    error
}

// NewReader reads the client's side of a session from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

func (q *Reader) Read(p []byte) (int, error) {
	for len(q.out) == 0 {
		if len(q.buf) == 0 {
			if q.err != nil {
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
			// read, so the buffer is free again by then.
			if q.rbuf == nil {
				q.rbuf = make([]byte, 16<<10)
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

// step moves what it can from buf to out.
func (q *Reader) step() {
	for len(q.buf) > 0 {
		switch {
		case q.raw > 0:
			n := int(min(q.raw, int64(len(q.buf))))
			q.out = append(q.out, q.buf[:n]...)
			q.buf, q.raw = q.buf[n:], q.raw-int64(n)
		case q.data:
			i := 0
			for i < len(q.buf) && q.data {
				c := q.buf[i]
				i++
				switch {
				case c == '\n':
					if q.bol == 2 {
						q.data = false // ".\r\n": the end of the message
					}
					q.bol = 0
				case c == '.' && q.bol == 0:
					q.bol = 1
				case c == '\r' && q.bol == 1:
					q.bol = 2
				default:
					q.bol = -1
				}
			}
			q.out = append(q.out, q.buf[:i]...)
			q.buf = q.buf[i:]
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
			if i < 0 {
				q.line = append(q.line, q.buf...)
				q.buf = q.buf[:0]
				if len(q.line) > maxCmdLine {
					q.out, q.line, q.passLn = append(q.out, q.line...), nil, true
				}
				continue
			}
			q.line = append(q.line, q.buf[:i+1]...)
			q.buf = q.buf[i+1:]
			q.out = append(q.out, q.command(q.line)...)
			q.line = q.line[:0]
		}
	}
}

// command looks at one command line: it qualifies the path of MAIL and
// RCPT, and notes where a message begins.
func (q *Reader) command(line []byte) []byte {
	body := bytes.TrimRight(line, "\r\n")
	upper := bytes.ToUpper(body)
	switch {
	case bytes.Equal(bytes.TrimSpace(upper), []byte("DATA")):
		q.data, q.bol = true, 0
	case bytes.HasPrefix(upper, []byte("BDAT ")):
		f := bytes.Fields(body[5:])
		if len(f) >= 1 && len(f) <= 2 {
			if n, err := strconv.ParseUint(string(f[0]), 10, 32); err == nil {
				q.raw = int64(n)
			}
		}
	case bytes.HasPrefix(upper, []byte("MAIL FROM:")):
		return qualifyPath(line, len("MAIL FROM:"))
	case bytes.HasPrefix(upper, []byte("RCPT TO:")):
		return qualifyPath(line, len("RCPT TO:"))
	}
	return line
}

// qualifyPath adds "@"+Unqualified to the path that starts at
// line[at:] when it has no "@" (and is not the null path "<>").
func qualifyPath(line []byte, at int) []byte {
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
	out := make([]byte, 0, len(line)+len(Unqualified)+1)
	out = append(out, line[:cut]...)
	out = append(out, '@')
	out = append(out, Unqualified...)
	return append(out, line[cut:]...)
}
