package mailx

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// appendWords appends header to dst with its RFC 2047 encoded words
// decoded exactly as mime.WordDecoder.DecodeHeader decodes them, for the
// charsets that it converts itself (UTF-8, ISO-8859-1, US-ASCII), but
// into dst and scratch instead of new allocations: listing a mailbox
// decodes a subject or a sender for nearly every message. ok is false
// when a word has another charset; dst is then as it was.
func appendWords(dst, scratch []byte, header string) (out, scr []byte, ok bool) {
	i := strings.Index(header, "=?")
	if i == -1 {
		return append(dst, header...), scratch, true
	}
	was := len(dst)
	dst = append(dst, header[:i]...)
	header = header[i:]
	betweenWords := false
	for {
		start := strings.Index(header, "=?")
		if start == -1 {
			break
		}
		cur := start + len("=?")
		i := strings.Index(header[cur:], "?")
		if i == -1 {
			break
		}
		charset := header[cur : cur+i]
		cur += i + len("?")
		if len(header) < cur+len("Q??=") {
			break
		}
		encoding := header[cur]
		cur++
		if header[cur] != '?' {
			break
		}
		cur++
		j := strings.Index(header[cur:], "?=")
		if j == -1 {
			break
		}
		text := header[cur : cur+j]
		end := cur + j + len("?=")
		var err error
		scratch, err = decodeWord(scratch[:0], encoding, text)
		if err != nil {
			betweenWords = false
			dst = append(dst, header[:end]...)
			header = header[end:]
			continue
		}
		// White space between two encoded words is dropped.
		if start > 0 && (!betweenWords || hasNonWhitespace(header[:start])) {
			dst = append(dst, header[:start]...)
		}
		switch {
		case strings.EqualFold("utf-8", charset):
			dst = append(dst, scratch...)
		case strings.EqualFold("iso-8859-1", charset):
			for _, c := range scratch {
				dst = utf8.AppendRune(dst, rune(c))
			}
		case strings.EqualFold("us-ascii", charset):
			for _, c := range scratch {
				if c >= utf8.RuneSelf {
					dst = utf8.AppendRune(dst, utf8.RuneError)
				} else {
					dst = append(dst, c)
				}
			}
		default:
			return dst[:was], scratch, false
		}
		header = header[end:]
		betweenWords = true
	}
	return append(dst, header...), scratch, true
}

var errWord = errors.New("invalid encoded word")

// decodeWord decodes the text of an encoded word into dst, as package
// mime does.
func decodeWord(dst []byte, encoding byte, text string) ([]byte, error) {
	switch encoding {
	case 'B', 'b':
		src := unsafe.Slice(unsafe.StringData(text), len(text))
		n := base64.StdEncoding.DecodedLen(len(src))
		if cap(dst) < n {
			dst = make([]byte, 0, max(n, 256))
		}
		n, err := base64.StdEncoding.Decode(dst[:n], src)
		return dst[:n], err
	case 'Q', 'q':
		for i := 0; i < len(text); i++ {
			switch c := text[i]; {
			case c == '_':
				dst = append(dst, ' ')
			case c == '=':
				if i+2 >= len(text) {
					return dst, errWord
				}
				hi, ok1 := fromHex(text[i+1])
				lo, ok2 := fromHex(text[i+2])
				if !ok1 || !ok2 {
					return dst, errWord
				}
				dst = append(dst, hi<<4|lo)
				i += 2
			case (c <= '~' && c >= ' ') || c == '\n' || c == '\r' || c == '\t':
				dst = append(dst, c)
			default:
				return dst, errWord
			}
		}
		return dst, nil
	}
	return dst, errWord
}

func fromHex(b byte) (byte, bool) {
	switch {
	case b >= '0' && b <= '9':
		return b - '0', true
	case b >= 'A' && b <= 'F':
		return b - 'A' + 10, true
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10, true
	}
	return 0, false
}

// hasNonWhitespace reports whether s holds more than the linear white
// space that may separate encoded words.
func hasNonWhitespace(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return true
		}
	}
	return false
}
