package mailx

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Charsets: UTF-8 and ASCII pass through, the single-byte Western
// charsets that most non-UTF-8 mail uses are mapped by table here, and
// every other charset a browser knows is converted by golang.org/x/text.
// A text in a charset none of them knows is shown as its bytes are, as
// s-nail shows one it cannot convert: what is UTF-8 reads, the rest is
// made visible as in any text, and a note names the charset when some
// bytes are not UTF-8. (In a header, convert replaces such bytes.)
func init() {
	message.CharsetReader = charsetReader
}

// cp1252 maps bytes 0x80-0x9F of windows-1252; the rest is Latin-1.
var cp1252 = [32]rune{
	'€', 0xFFFD, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0xFFFD, 'Ž', 0xFFFD,
	0xFFFD, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0xFFFD, 'ž', 'Ÿ',
}

// latin9 holds the eight code points where ISO-8859-15 differs from
// Latin-1.
var latin9 = map[byte]rune{0xA4: '€', 0xA6: 'Š', 0xA8: 'š', 0xB4: 'Ž', 0xB8: 'ž', 0xBC: 'Œ', 0xBD: 'œ', 0xBE: 'Ÿ'}

// convert decodes b from charset to UTF-8. ok is false for a charset it
// does not know; the text then has its non-ASCII bytes replaced.
func convert(charset string, b []byte) (string, bool) {
	cs := strings.ToLower(strings.TrimSpace(charset))
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968":
		return validUTF8(string(b)), true
	case "iso-8859-1", "iso8859-1", "latin1", "l1", "windows-1252", "cp1252", "iso-8859-15", "iso8859-15", "latin9":
		return string(appendLatin(make([]byte, 0, len(b)), b, cs)), true
	}
	// Every other charset a browser knows (Shift_JIS, ISO-2022-JP,
	// GB18030, KOI8-R, windows-1251...), by its WHATWG label, and
	// UTF-7.
	if t := charsetDecoder(cs); t != nil {
		if out, _, err := transform.Bytes(t, b); err == nil {
			return validUTF8(string(out)), true
		}
	}
	if utf8.Valid(b) {
		return string(b), true
	}
	var sb strings.Builder
	for _, c := range b {
		if c < 0x80 {
			sb.WriteByte(c)
		} else {
			sb.WriteRune(0xFFFD)
		}
	}
	return sb.String(), false
}

// validUTF8 is s with each byte that begins no UTF-8 character
// replaced by U+FFFD, one for each (strings.ToValidUTF8 gives one for a
// run of them): see textFilter.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string([]rune(s))
}

// isUTF8Label reports whether convert takes a (lower case, trimmed)
// charset as UTF-8.
func isUTF8Label(cs string) bool {
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968":
		return true
	}
	return false
}

// isLatinLabel reports whether convert maps a charset by appendLatin.
func isLatinLabel(cs string) bool {
	switch cs {
	case "iso-8859-1", "iso8859-1", "latin1", "l1", "windows-1252", "cp1252", "iso-8859-15", "iso8859-15", "latin9":
		return true
	}
	return false
}

// appendLatin appends b, in one of the Latin-1 family charsets (cs, as
// isLatinLabel takes it), to dst as UTF-8.
func appendLatin(dst, b []byte, cs string) []byte {
	for _, c := range b {
		switch {
		case c < 0x80:
			dst = append(dst, c)
		case c < 0xA0 && (cs == "windows-1252" || cs == "cp1252"):
			dst = utf8.AppendRune(dst, cp1252[c-0x80])
		case strings.Contains(cs, "15") || cs == "latin9":
			if r, ok := latin9[c]; ok {
				dst = utf8.AppendRune(dst, r)
			} else {
				dst = utf8.AppendRune(dst, rune(c))
			}
		default:
			dst = utf8.AppendRune(dst, rune(c))
		}
	}
	return dst
}

// latinReader converts a Latin-1 family charset to UTF-8 as it reads.
type latinReader struct {
	r   io.Reader
	cs  string
	in  []byte
	out []byte
	err error
}

func (l *latinReader) Read(p []byte) (int, error) {
	for len(l.out) == 0 {
		if l.err != nil {
			return 0, l.err
		}
		n, err := l.r.Read(l.in)
		l.out = appendLatin(l.out[:0], l.in[:n], l.cs)
		l.err = err
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}

// latinText makes a text entity that names no charset, or US-ASCII,
// read line by line as header fields are (latinFallback): a line in 8
// bits that is not UTF-8, without a UTF-8 character in it, is read as
// windows-1252. Such bodies come from old programs and hosts (cron
// output in Latin-1 without MIME fields), and their letters would all
// show as U+FFFD; a line that is UTF-8 is shown as it is.
func latinText(e *message.Entity) {
	if e == nil {
		return
	}
	mt, params, _ := e.Header.ContentType()
	if mt != "" && !strings.HasPrefix(mt, "text/") {
		return
	}
	switch strings.ToLower(strings.TrimSpace(params["charset"])) {
	case "", "us-ascii", "ascii":
		e.Body = &latinLines{br: bufio.NewReaderSize(e.Body, 64<<10)}
	}
}

// latinLines is latinText's reader: latinFallback a line (or a piece of
// 64 KiB of a longer one) at a time. A UTF-8 character cut at the end
// of such a piece is carried over to the next: cut in two, each half
// is no UTF-8 and was read as windows-1252 letters ("Ã©" for "é").
type latinLines struct {
	br    *bufio.Reader
	out   []byte
	carry []byte // the start of a character cut at the end of a piece
	err   error
}

func (l *latinLines) Read(p []byte) (int, error) {
	for len(l.out) == 0 {
		if l.err != nil {
			return 0, l.err
		}
		line, err := l.br.ReadSlice('\n')
		piece := err == bufio.ErrBufferFull
		if piece {
			err = nil
		}
		l.err = err
		if len(l.carry) > 0 {
			line = append(l.carry, line...)
			l.carry = nil
		}
		if piece {
			if cut := cutRune(line); cut < len(line) {
				l.carry = append([]byte(nil), line[cut:]...)
				line = line[:cut]
			}
		}
		if utf8.Valid(line) {
			l.out = append(l.out[:0], line...)
		} else {
			l.out = append(l.out[:0], latinFallback(string(line))...)
		}
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}

// cutRune returns where a UTF-8 character that b ends before its end
// begins, or len(b) when b ends with a whole character (or with bytes
// that begin none).
func cutRune(b []byte) int {
	for i := len(b) - 1; i >= 0 && i > len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if b[i] >= 0xC0 && !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// unknownCharset is charsetReader's error for a text in a charset it
// does not know whose bytes are not all UTF-8. go-message keeps the
// error and drops the reader, and the text had to be read to its end to
// find that out, so the error carries the text, as its bytes are: the
// display shows it from there (unknownText), and address parsing, which
// only sees the error, keeps such an encoded word as it is written.
type unknownCharset struct {
	charset string
	text    io.Reader
}

func (u *unknownCharset) Error() string {
	return fmt.Sprintf("unknown charset %q", u.charset)
}

// unknownText gives e the text that err, go-message's error for e, holds
// when charsetReader did not know e's charset, and reports whether it
// did: e's own body was read to its end.
func unknownText(e *message.Entity, err error) bool {
	var u *unknownCharset
	if !errors.As(err, &u) {
		return false
	}
	e.Body = u.text
	return true
}

// charsetReader is go-message's hook for decoding a charset: convert's
// conversion, as a stream. The text is first read to its end (into a
// temporary file past a megabyte), as convert reads it whole: a read
// error leaves the text undecoded (go-message then shows what is left of
// it, nothing). An unknown charset is passed through when the whole text
// is UTF-8; otherwise the text goes with the error (unknownCharset).
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	sp, err := newSpool(r)
	if err != nil {
		return nil, err
	}
	cs := strings.ToLower(strings.TrimSpace(charset))
	switch {
	case isUTF8Label(cs):
		return newValidUTF8Reader(sp.lastReader()), nil
	case isLatinLabel(cs):
		return &latinReader{r: sp.lastReader(), cs: cs, in: make([]byte, 32<<10)}, nil
	}
	if t := charsetDecoder(cs); t != nil {
		// A decoder that fails leaves the text as an unknown
		// charset's (convert).
		if _, err := io.Copy(io.Discard, transform.NewReader(sp.reader(), t)); err == nil {
			return newValidUTF8Reader(transform.NewReader(sp.lastReader(), charsetDecoder(cs))), nil
		}
	}
	valid, err := isValidUTF8(sp.reader())
	if err != nil {
		sp.close()
		return nil, fmt.Errorf("charset %q: reading the text again: %w", charset, err)
	}
	if valid {
		return sp.lastReader(), nil
	}
	return nil, &unknownCharset{charset: charset, text: sp.lastReader()}
}

// charsetDecoder gives a new decoder to UTF-8 from the charset cs
// (lower case, trimmed) when it is one that whatwg knows, or UTF-7;
// else nil. A UTF-16 text starts with a byte order mark that says
// which end comes first, or none (then the label, or little end first,
// says): the mark is not text, and is dropped, as a browser drops it.
func charsetDecoder(cs string) transform.Transformer {
	if isUTF7Label(cs) {
		return &utf7Decoder{}
	}
	enc := whatwg(cs)
	switch enc {
	case nil:
		return nil
	case whatwg("utf-16le"), whatwg("utf-16be"):
		return unicode.BOMOverride(enc.NewDecoder())
	}
	return enc.NewDecoder()
}

// isValidUTF8 reports whether all that r holds is UTF-8.
func isValidUTF8(r io.Reader) (bool, error) {
	s := &textScan{}
	if _, err := io.Copy(s, r); err != nil {
		return false, err
	}
	return !s.invalid && len(s.carry) == 0, nil
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(strings.TrimSpace(charset), "unknown-8bit") {
		// RFC 1428's label for 8-bit text of no known charset,
		// read as the raw bytes of a header are (latinFallback).
		return strings.NewReader(latinFallback(string(b))), nil
	}
	s, _ := convert(charset, b)
	return strings.NewReader(s), nil
}}

// latinFallback gives v read as windows-1252 (Latin-1 with typographic
// marks in 0x80-0x9F) when it is not UTF-8 and holds no character of
// more than one byte in UTF-8: a header written in 8 bits without an
// encoded word is most often in it, and its bytes would otherwise all
// show as U+FFFD. A v that is UTF-8 is given as it is, and so is one
// that is UTF-8 but for some bytes (a character cut in two): those are
// replaced where it is shown.
func latinFallback(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	for i := 0; i < len(v); {
		r, n := utf8.DecodeRuneInString(v[i:])
		if n > 1 && r != utf8.RuneError {
			return v
		}
		i += n
	}
	return string(appendLatin(make([]byte, 0, 2*len(v)), []byte(v), "windows-1252"))
}

// decodeHeader decodes RFC 2047 encoded words and makes the value safe to
// print: bytes that are not UTF-8 read as windows-1252 (latinFallback),
// control characters and encoded words' invalid UTF-8 replaced.
func decodeHeader(v string) string {
	v = latinFallback(v)
	if strings.Contains(v, "=?") {
		if d, err := wordDecoder.DecodeHeader(v); err == nil {
			v = d
		}
	}
	return printable(v)
}

// appendDecoded appends decodeHeader(v) to dst, decoding in tmp, which
// it keeps for the next call.
func appendDecoded(dst []byte, tmp *[2][]byte, v string) []byte {
	v = latinFallback(v)
	if strings.Contains(v, "=?") {
		var ok bool
		if tmp[0], tmp[1], ok = appendWords(tmp[0][:0], tmp[1], v); ok {
			return appendPrintable(dst, view(tmp[0]))
		}
		if d, err := wordDecoder.DecodeHeader(v); err == nil {
			v = d
		}
	}
	return appendPrintable(dst, v)
}

// printable replaces control characters (a terminal escape in a Subject)
// and invalid UTF-8.
func printable(v string) string {
	if isPlain(v) {
		return v
	}
	return string(appendPrintable(nil, v))
}

// reorders reports whether r is a bidi control that reorders the text
// displayed after it, up to the end of the line or the paragraph: the
// embeddings and overrides (U+202A to U+202E) and the isolates (U+2066 to
// U+2069). With them a Subject or a line of a body can show its text in
// another order than it has (a name ending "exe.pdf" shown as one
// ending "fdp.exe"), so they are shown as '?' as other controls are. The
// marks (U+200E, U+200F, U+061C), which right-to-left text uses and
// which act on their neighbours only, are shown as they are.
func reorders(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// isPlain reports whether v is printable ASCII.
func isPlain(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			return false
		}
	}
	return true
}

// appendPrintable appends printable(v) to dst.
func appendPrintable(dst []byte, v string) []byte {
	if isPlain(v) {
		return append(dst, v...)
	}
	for _, r := range validUTF8(v) {
		switch {
		case r == '\t':
			dst = append(dst, ' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || reorders(r):
			dst = append(dst, '?')
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}
