// Package report writes the messages homepost itself sends: the report
// of a cron job (Cron), the failure of a systemd unit (Unit) and the
// bounce of an undeliverable message (BuildDSN). All three tell a person
// what happened; the name is RFC 6522's, whose multipart/report a DSN
// is. None is a reply to be answered: each is marked Auto-Submitted.
//
// One package holds them because they share their rules: headers built
// with go-message (in order, one line, RFC 2047 words where not ASCII,
// LF line endings as messages are stored), bodies that travel as 8bit
// text when they can and as lossless quoted-printable when they cannot
// (NUL, CR, invalid UTF-8, long lines), and no failure in building that
// loses what was to be said. Queueing the result is the caller's
// (submit, or the agent for a DSN): this package imports neither, so
// that the agent can use it without a cycle.
package report

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// field is one header field to write, in order.
type field struct{ key, value string }

// writeHeader writes the fields, in the order given, and the blank line
// that ends the header, with go-message's writer; with LF line endings,
// as messages are stored (and as BuildDSN writes them). Text fields
// (Subject) have been through textHeader already.
func writeHeader(w io.Writer, fields []field) error {
	var h textproto.Header
	// go-message writes the fields last added first.
	for i := len(fields) - 1; i >= 0; i-- {
		h.AddRaw([]byte(fields[i].key + ": " + fields[i].value + "\r\n"))
	}
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		return err
	}
	_, err := w.Write(bytes.ReplaceAll(b.Bytes(), []byte("\r\n"), []byte("\n")))
	return err
}

// textHeader returns s as the value of an unstructured header field:
// one line, valid UTF-8, RFC 2047-encoded when not ASCII (go-message's
// SetText).
func textHeader(key, s string) field {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	var h mail.Header
	h.SetText(key, s)
	return field{key, h.Get(key)}
}

// textFields are the fields that end every report's header: it is
// generated, and plain text in UTF-8, 8bit or quoted-printable.
func textFields(qp bool) []field {
	var h mail.Header
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	cte := "8bit"
	if qp {
		cte = "quoted-printable"
	}
	return []field{
		{"Auto-Submitted", "auto-generated"},
		{"MIME-Version", "1.0"},
		{"Content-Type", h.Get("Content-Type")},
		{"Content-Transfer-Encoding", cte},
	}
}

// needsQP reports whether output cannot travel as 8bit text: NUL or CR
// bytes, invalid UTF-8, or a line longer than SMTP allows (998 octets).
func needsQP(r io.Reader) (bool, error) {
	br := bufio.NewReaderSize(r, 4096)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return true, nil
		}
		if len(bytes.TrimSuffix(line, []byte("\n"))) > 998 || !utf8.Valid(line) || strings.ContainsAny(string(line), "\x00\r") {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// qpWriter encodes quoted-printable (RFC 2045 6.7) losslessly: unlike
// mime/quotedprintable in text mode it keeps a lone CR (progress bars) and
// a CR before LF as =0D, and writes LF as a line break. Lines stay under
// 76 characters with soft breaks.
type qpWriter struct {
	w   *bufio.Writer
	col int
	// pending is a space or tab not yet written: it must be encoded if a
	// line break follows.
	pending byte
}

const qpHex = "0123456789ABCDEF"

func (q *qpWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		if q.pending != 0 {
			if c == '\n' {
				q.put3(q.pending)
			} else {
				q.put1(q.pending)
			}
			q.pending = 0
		}
		switch {
		case c == '\n':
			q.w.WriteByte('\n')
			q.col = 0
		case c == ' ' || c == '\t':
			q.pending = c
		case c >= 33 && c <= 126 && c != '=':
			q.put1(c)
		default:
			q.put3(c)
		}
	}
	return len(p), nil
}

func (q *qpWriter) put1(c byte) {
	if q.col+1 > 75 {
		q.w.WriteString("=\n")
		q.col = 0
	}
	q.w.WriteByte(c)
	q.col++
}

func (q *qpWriter) put3(c byte) {
	if q.col+3 > 75 {
		q.w.WriteString("=\n")
		q.col = 0
	}
	q.w.Write([]byte{'=', qpHex[c>>4], qpHex[c&15]})
	q.col += 3
}

// Close writes a pending trailing blank, encoded, and ends the last line.
func (q *qpWriter) Close() error {
	if q.pending != 0 {
		q.put3(q.pending)
		q.pending = 0
	}
	if q.col > 0 {
		q.w.WriteString("=\n")
	}
	return nil
}
