package mailx

import (
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/transform"
)

// UTF-7 (RFC 2152) is still met in old mail and in some mailing list
// software's headers, and golang.org/x/text does not decode it: ASCII
// stands for itself, and "+" starts a run of UTF-16 code units in
// base64 (without padding) that ends at the first byte outside base64,
// a "-" there being dropped; "+-" is "+". Decoding is lenient, as for
// any charset: a byte of 0x80 and over (not UTF-7), a lone surrogate
// or a run whose bits do not end on a code unit gives U+FFFD, and what
// follows is read as before.

// isUTF7Label reports whether cs (lower case, trimmed) names UTF-7.
func isUTF7Label(cs string) bool {
	switch cs {
	case "utf-7", "utf7", "unicode-1-1-utf-7", "csunicode11utf7", "x-unicode-2-0-utf-7":
		return true
	}
	return false
}

// utf7Decoder is a transform.Transformer from UTF-7 to UTF-8.
type utf7Decoder struct {
	shifted bool
	bits    uint32 // of the run, not yet a code unit
	nbits   uint
	high    rune // a high surrogate waiting for its low one, or 0
}

func (d *utf7Decoder) Reset() { *d = utf7Decoder{} }

// utf7Room is the most one byte of input writes: U+FFFD for a waiting
// surrogate and a rune, or U+FFFD for bits that end no code unit and
// the byte itself.
const utf7Room = 3 + utf8.UTFMax

func (d *utf7Decoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		if len(dst)-nDst < utf7Room {
			return nDst, nSrc, transform.ErrShortDst
		}
		c := src[nSrc]
		nSrc++
		if d.shifted {
			if v := b64Value[c]; v != 0xFF {
				d.bits = d.bits<<6 | uint32(v)
				d.nbits += 6
				if d.nbits >= 16 {
					d.nbits -= 16
					nDst += d.unit(dst[nDst:], rune(d.bits>>d.nbits&0xFFFF))
					d.bits &= 1<<d.nbits - 1
				}
				continue
			}
			nDst += d.endRun(dst[nDst:])
			if c == '-' {
				continue
			}
		}
		switch {
		case c == '+':
			if nSrc == len(src) && !atEOF {
				// "+-" or a run: the next byte tells.
				nSrc--
				return nDst, nSrc, transform.ErrShortSrc
			}
			if nSrc < len(src) && src[nSrc] == '-' {
				dst[nDst] = '+'
				nDst++
				nSrc++
				continue
			}
			d.shifted = true
		case c >= 0x80:
			nDst += utf8.EncodeRune(dst[nDst:], utf8.RuneError)
		default:
			dst[nDst] = c
			nDst++
		}
	}
	if atEOF {
		if len(dst)-nDst < utf7Room {
			return nDst, nSrc, transform.ErrShortDst
		}
		if d.shifted {
			nDst += d.endRun(dst[nDst:])
		}
	}
	return nDst, nSrc, nil
}

// unit writes what the UTF-16 code unit u makes, with the surrogate
// before it, and gives the bytes written.
func (d *utf7Decoder) unit(dst []byte, u rune) int {
	n := 0
	switch {
	case utf16.IsSurrogate(u) && u < 0xDC00:
		if d.high != 0 {
			n += utf8.EncodeRune(dst, utf8.RuneError)
		}
		d.high = u
		return n
	case utf16.IsSurrogate(u):
		if d.high == 0 {
			return utf8.EncodeRune(dst, utf8.RuneError)
		}
		r := utf16.DecodeRune(d.high, u)
		d.high = 0
		return utf8.EncodeRune(dst, r)
	}
	if d.high != 0 {
		n += utf8.EncodeRune(dst, utf8.RuneError)
		d.high = 0
	}
	return n + utf8.EncodeRune(dst[n:], u)
}

// endRun ends a base64 run: a surrogate left waiting, or bits that
// are more than the zero padding of the last code unit, give U+FFFD.
func (d *utf7Decoder) endRun(dst []byte) int {
	bad := d.high != 0 || d.nbits >= 6 || d.bits != 0
	*d = utf7Decoder{}
	if bad {
		return utf8.EncodeRune(dst, utf8.RuneError)
	}
	return 0
}
