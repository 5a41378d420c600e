package addr

import "unicode/utf8"

// cp1252 maps bytes 0x80-0x9F of windows-1252 (the typographic marks
// Latin-1 leaves to control characters); the rest is Latin-1. U+FFFD
// stands for the five bytes windows-1252 leaves undefined.
var cp1252 = [32]rune{
	'€', 0xFFFD, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0xFFFD, 'Ž', 0xFFFD,
	0xFFFD, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0xFFFD, 'ž', 'Ÿ',
}

// HeaderText gives header text typed by a user (a display name from
// sendmail -F or NAME, a subject) as UTF-8, as an RFC 2047 encoded word
// labelled utf-8 must hold it: text in 8 bits that is not UTF-8 and has
// no UTF-8 character of more than one byte in it (Latin-1 typed where
// the terminal is not UTF-8) is read as windows-1252, as mail(1) reads
// such a body; in text that is UTF-8 but for a stray byte (a character
// cut in two) each such byte becomes U+FFFD. Text that is UTF-8 is
// given back as it is, without allocating: sendmail calls this for
// every From it writes.
func HeaderText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	latin := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if n > 1 && r != utf8.RuneError {
			latin = false
			break
		}
		i += n
	}
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		case latin && c < 0xA0:
			b = utf8.AppendRune(b, cp1252[c-0x80])
			i++
		case latin:
			b = utf8.AppendRune(b, rune(c))
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			b = utf8.AppendRune(b, r)
			i += n
		}
	}
	return string(b)
}
