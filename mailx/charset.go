package mailx

import (
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
)

// Charsets: UTF-8 and ASCII pass through, the single-byte Western
// charsets that most non-UTF-8 mail uses are mapped by table here, and
// every other charset a browser knows is converted by golang.org/x/text.
// An unknown one is shown with its bytes replaced, with a note.
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
		return strings.ToValidUTF8(string(b), "\uFFFD"), true
	case "iso-8859-1", "iso8859-1", "latin1", "l1", "windows-1252", "cp1252", "iso-8859-15", "iso8859-15", "latin9":
		var sb strings.Builder
		sb.Grow(len(b))
		for _, c := range b {
			switch {
			case c < 0x80:
				sb.WriteByte(c)
			case c < 0xA0 && (cs == "windows-1252" || cs == "cp1252"):
				sb.WriteRune(cp1252[c-0x80])
			case strings.Contains(cs, "15") || cs == "latin9":
				if r, ok := latin9[c]; ok {
					sb.WriteRune(r)
				} else {
					sb.WriteRune(rune(c))
				}
			default:
				sb.WriteRune(rune(c))
			}
		}
		return sb.String(), true
	}
	// Every other charset a browser knows (Shift_JIS, ISO-2022-JP,
	// GB18030, KOI8-R, windows-1251...), by its WHATWG label.
	if enc := whatwg(cs); enc != nil {
		if out, err := enc.NewDecoder().Bytes(b); err == nil {
			return strings.ToValidUTF8(string(out), "\uFFFD"), true
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

// charsetReader is go-message's hook for decoding a charset.
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	s, ok := convert(charset, b)
	if !ok {
		return strings.NewReader(s), fmt.Errorf("unknown charset %q", charset)
	}
	return strings.NewReader(s), nil
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	s, _ := convert(charset, b)
	return strings.NewReader(s), nil
}}

// decodeHeader decodes RFC 2047 encoded words and makes the value safe to
// print: invalid UTF-8 and control characters are replaced.
func decodeHeader(v string) string {
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
	for _, r := range strings.ToValidUTF8(v, "\uFFFD") {
		switch {
		case r == '\t':
			dst = append(dst, ' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			dst = append(dst, '?')
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}
