package mailx

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// A base64 or quoted-printable body is decoded here rather than by
// go-message, whose decoders (the standard library's) end the text at
// the first byte they cannot decode, with an error that loses the rest
// of it. cteReader decodes exactly what they decode, and where they
// would fail it ends its text and keeps the rest of the body as it is
// stored, for the display to show after a note (brokenNote): nothing of
// a broken part is hidden.

// maxMIMEHeaderBytes is go-message's own bound on a header section
// (message.Read's default).
const maxMIMEHeaderBytes = 1 << 20

// readEntity is message.Read, but with a base64 or quoted-printable body
// decoded by cteReader (newEntity).
func readEntity(r io.Reader) (*message.Entity, *cteReader, error) {
	lr := &capReader{r: r, n: maxMIMEHeaderBytes}
	br := bufio.NewReader(lr)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, nil, err
	}
	lr.n = math.MaxInt64
	return newEntity(message.Header{Header: h}, br)
}

// capReader is go-message's limitedReader: reads fail once n bytes have
// gone by.
type capReader struct {
	r io.Reader
	n int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// newEntity is message.New, but a base64 or quoted-printable body (of
// an entity that is not a multipart, whose encoding go-message ignores)
// is decoded by the cteReader it returns; else that is nil. The entity
// keeps h, its encoding named.
func newEntity(h message.Header, body io.Reader) (*message.Entity, *cteReader, error) {
	mt, _, _ := h.ContentType()
	enc := strings.ToLower(h.Get("Content-Transfer-Encoding"))
	if strings.HasPrefix(mt, "multipart/") || (enc != "base64" && enc != "quoted-printable") {
		e, err := message.New(h, body)
		latinText(e)
		return e, nil, err
	}
	d := newCTEReader(enc, body)
	plain := message.Header{Header: h.Header.Copy()}
	plain.Del("Content-Transfer-Encoding")
	// Without the encoding, New's only error is the charset's.
	e, err := message.New(plain, d)
	e.Header = h
	latinText(e)
	return e, d, err
}

// note is the line between the text that a base64 or quoted-printable
// part decodes to and the rest of it, shown as stored.
func (d *cteReader) note() string {
	enc := "quoted-printable"
	if d.b64 {
		enc = "base64"
	}
	return "[-- invalid " + enc + " from here: shown as stored --]\n"
}

// cteReader decodes base64 or quoted-printable as the standard library
// does (base64.StdEncoding after go-message's white space rule;
// mime/quotedprintable), but, where that would fail, it ends the text
// (io.EOF) and keeps the rest: Broken reports it, Rest reads it.
// base64 stops before the quantum it cannot decode (or the first byte
// after the padding, which ends base64), quoted-printable before the
// line (of any length up to maxQPLine). A read error of the body is
// passed on.
type cteReader struct {
	r      io.Reader
	b64    bool
	in     []byte
	buf    []byte // holds out
	out    []byte
	err    error // once out is empty: io.EOF, or the body's read error
	broken bool
	rest   []byte // the undecoded bytes read so far, from where decoding stopped

	// base64: the values of the quantum being read, and its bytes
	// as stored; pad is 1 after a first '=' that needs a second, 2
	// once padding has ended the text.
	q       [4]byte
	j       int
	pad     int
	pending []byte

	// quoted-printable: the line being read.
	line []byte
}

// maxQuantumSpace bounds the white space kept within a base64 quantum,
// to show it as stored should the quantum not decode: past that, the
// rest of the run is left out.
const maxQuantumSpace = 4096

// maxQPLine bounds a quoted-printable line (RFC 2045 allows 76 bytes):
// decoding stops before a longer one.
const maxQPLine = 1 << 20

func newCTEReader(enc string, r io.Reader) *cteReader {
	return &cteReader{r: r, b64: enc == "base64"}
}

// Broken reports whether decoding stopped before the end of the body.
// It is known once the text has been read to its end.
func (d *cteReader) Broken() bool { return d.broken }

// Rest reads the body from where decoding stopped, as it is stored.
func (d *cteReader) Rest() io.Reader {
	return io.MultiReader(bytes.NewReader(d.rest), d.r)
}

func (d *cteReader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.in == nil {
			d.in = make([]byte, 32<<10)
		}
		n, err := d.r.Read(d.in)
		if d.b64 {
			d.base64(d.in[:n])
		} else {
			d.qp(d.in[:n])
		}
		switch {
		case d.broken:
			d.err = io.EOF
		case err == io.EOF:
			d.end()
			d.err = io.EOF
		case err != nil:
			d.err = err
		}
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// stop ends the text: rest is what follows, as stored.
func (d *cteReader) stop(rest []byte) {
	d.broken = true
	d.rest = rest
}

// end is the end of the body.
func (d *cteReader) end() {
	if d.b64 {
		if d.j > 0 || d.pad == 1 {
			d.stop(d.pending)
		}
		return
	}
	if len(d.line) > 0 {
		d.qpLine(d.line, true)
	}
}

// b64Value maps a byte to its base64 value, 0xFF for one outside the
// alphabet.
var b64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// b64Space is the white space base64 skips: CR and LF, and (as
// go-message makes them newlines) space and tab.
func b64Space(c byte) bool { return c == '\n' || c == '\r' || c == ' ' || c == '\t' }

// base64 decodes the next bytes of the body into out.
func (d *cteReader) base64(b []byte) {
	out := d.buf[:0]
	defer func() { d.buf = out[:0] }()
	for i := 0; i < len(b); i++ {
		c := b[i]
		if d.j == 0 && d.pad == 0 {
			// Whole quanta, as they mostly come.
			for i+4 <= len(b) {
				v0, v1, v2, v3 := b64Value[b[i]], b64Value[b[i+1]], b64Value[b[i+2]], b64Value[b[i+3]]
				if v0|v1|v2|v3 == 0xFF {
					break
				}
				v := uint(v0)<<18 | uint(v1)<<12 | uint(v2)<<6 | uint(v3)
				out = append(out, byte(v>>16), byte(v>>8), byte(v))
				i += 4
			}
			if i == len(b) {
				break
			}
			c = b[i]
		}
		if d.pad == 2 {
			if b64Space(c) {
				continue
			}
			// Anything after the padding: the standard
			// library's "trailing garbage".
			d.out = out
			d.stop(append([]byte(nil), b[i:]...))
			return
		}
		if v := b64Value[c]; v != 0xFF && d.pad == 0 {
			d.q[d.j] = v
			d.j++
			d.pending = append(d.pending, c)
			if d.j == 4 {
				v := uint(d.q[0])<<18 | uint(d.q[1])<<12 | uint(d.q[2])<<6 | uint(d.q[3])
				out = append(out, byte(v>>16), byte(v>>8), byte(v))
				d.j, d.pending = 0, d.pending[:0]
			}
			continue
		}
		switch {
		case b64Space(c):
			if (d.j > 0 || d.pad == 1) && len(d.pending) < maxQuantumSpace {
				d.pending = append(d.pending, c)
			}
			continue
		case c == '=' && d.pad == 1:
			v := uint(d.q[0])<<18 | uint(d.q[1])<<12
			out = append(out, byte(v>>16))
			d.j, d.pad, d.pending = 0, 2, d.pending[:0]
			continue
		case c == '=' && d.j == 3:
			v := uint(d.q[0])<<18 | uint(d.q[1])<<12 | uint(d.q[2])<<6
			out = append(out, byte(v>>16), byte(v>>8))
			d.j, d.pad, d.pending = 0, 2, d.pending[:0]
			continue
		case c == '=' && d.j == 2:
			d.pad = 1
			d.pending = append(d.pending, c)
			continue
		}
		// A byte outside the alphabet, or padding where there can
		// be none: the quantum it is in is not decoded.
		d.out = out
		d.stop(append(append([]byte(nil), d.pending...), b[i:]...))
		return
	}
	d.out = out
}

// qp decodes the next bytes of the body into out, line by line.
func (d *cteReader) qp(b []byte) {
	d.out = d.buf[:0]
	defer func() { d.buf = d.out[:0] }()
	for len(b) > 0 && !d.broken {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(d.line)+len(b) > maxQPLine {
				d.stop(append(d.line, b...))
				return
			}
			d.line = append(d.line, b...)
			return
		}
		if len(d.line)+i+1 > maxQPLine {
			d.stop(append(d.line, b...))
			return
		}
		line := b[:i+1]
		if len(d.line) > 0 {
			d.line = append(d.line, line...)
			line = d.line
		}
		b = b[i+1:]
		if !d.qpLine(line, false) {
			d.rest = append(append([]byte(nil), line...), b...)
			return
		}
		d.line = d.line[:0]
	}
}

// qpLine decodes one line (its newline included, when it has one; last:
// the body ends with it) into out as mime/quotedprintable does, and
// reports whether it could. A line it cannot decode stops the text:
// out is left as it was, and the line is the start of rest.
func (d *cteReader) qpLine(line []byte, last bool) bool {
	out, ok := appendQPLine(d.out, line, last)
	if !ok {
		d.stop(append([]byte(nil), line...))
		return false
	}
	d.out = out
	return true
}

// appendQPLine appends the decoded line to dst, as mime/quotedprintable's
// Reader decodes it: soft line breaks, white space before a line end
// dropped, '=' taken as itself when no hex digits follow, bytes of 0x80
// and over passed. ok is false where the Reader fails: a control
// character other than tab, CR or LF, '=' before a CR within the line,
// or a soft break followed by other than a newline.
func appendQPLine(dst, line []byte, last bool) ([]byte, bool) {
	hasLF := bytes.HasSuffix(line, []byte("\n"))
	hasCR := bytes.HasSuffix(line, []byte("\r\n"))
	l := bytes.TrimRight(line, " \t\r\n")
	start := len(dst)
	if bytes.HasSuffix(l, []byte("=")) {
		after := bytes.TrimLeft(line[len(l):], " \t")
		l = l[:len(l)-1]
		if !bytes.HasPrefix(after, []byte("\n")) && !bytes.HasPrefix(after, []byte("\r\n")) &&
			!(len(after) == 0 && len(l) > 0 && last) {
			return dst[:start], false
		}
		hasLF, hasCR = false, false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c == '=':
			if i+2 < len(l) {
				if hi, ok := fromHex(l[i+1]); ok {
					if lo, ok := fromHex(l[i+2]); ok {
						dst = append(dst, hi<<4|lo)
						i += 2
						continue
					}
				}
			}
			if i+1 < len(l) && l[i+1] != '\r' && l[i+1] != '\n' {
				dst = append(dst, '=')
				continue
			}
			return dst[:start], false
		case c == '\t' || c == '\r' || c == '\n' || c >= 0x80:
		case c < ' ' || c > '~':
			return dst[:start], false
		}
		dst = append(dst, c)
	}
	switch {
	case hasCR:
		dst = append(dst, '\r', '\n')
	case hasLF:
		dst = append(dst, '\n')
	}
	return dst, true
}
