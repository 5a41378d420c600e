package mailx

import (
	"strconv"
	"unicode/utf8"
)

// headerLine formats one line of the header summary in the BSD layout:
//
//	>N  1 sender@host           Sat Jan  2 08:50   11/312   Subject
func headerLine(m *Msg, current bool, width int) string {
	return string(appendHeaderLine(make([]byte, 0, 128), m, current, width))
}

// appendHeaderLine appends the header summary line of m to b.
func appendHeaderLine(b []byte, m *Msg, current bool, width int) []byte {
	start := len(b)
	if current {
		b = append(b, '>')
	} else {
		b = append(b, ' ')
	}
	b = append(b, m.stateChar())
	b = appendRightInt(b, int64(m.Num), 3)
	b = append(b, ' ')
	b = appendPadded(b, printable(m.sender()), 20)
	b = append(b, "  "...)
	if m.has(fFromDate) {
		b = appendPadded(b, m.field(sumDate), 16)
	} else {
		date := len(b)
		b = m.appendSummaryDate(b)
		for n := len(b) - date; n < 16; n++ {
			b = append(b, ' ')
		}
	}
	b = append(b, ' ')
	if m.Lines >= 0 {
		b = appendRightInt(b, int64(m.Lines), 4)
	} else {
		b = appendRight(b, "?", 4)
	}
	b = append(b, '/')
	var num [20]byte
	// Padded to 5 columns, never cut (s-nail shows the whole size).
	size := strconv.AppendInt(num[:0], m.Size, 10)
	b = append(b, size...)
	for n := len(size); n < 5; n++ {
		b = append(b, ' ')
	}
	b = append(b, ' ')
	if room := width - columns(b[start:]) - 1; room > 0 {
		b = appendTrunc(b, m.subject(), room)
	}
	for len(b) > start && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// summaryDate is the date column (see appendSummaryDate).
func (m *Msg) summaryDate() string { return string(m.appendSummaryDate(nil)) }

// appendPadded appends s cut or padded to n terminal columns.
func appendPadded(b []byte, s string, n int) []byte {
	b, used := appendCols(b, s, n)
	for ; used < n; used++ {
		b = append(b, ' ')
	}
	return b
}

func appendTrunc(b []byte, s string, n int) []byte {
	b, _ = appendCols(b, s, n)
	return b
}

// appendCols appends as much of s as fits in n terminal columns and
// returns the columns used.
func appendCols(b []byte, s string, n int) ([]byte, int) {
	used := 0
	for _, r := range s {
		w := runeWidth(r)
		if used+w > n {
			break
		}
		b = utf8.AppendRune(b, r)
		used += w
	}
	return b, used
}

// runeWidth is the number of terminal columns a character takes: two
// for the East Asian wide and fullwidth ranges (CJK, Hangul, fullwidth
// forms, most emoji), zero for combining marks, else one.
func runeWidth(r rune) int {
	switch {
	case r < 0x300:
		return 1
	case r >= 0x300 && r <= 0x36f, r >= 0x200b && r <= 0x200f, r >= 0xfe00 && r <= 0xfe0f:
		return 0
	case r >= 0x1100 && r <= 0x115f, r >= 0x2e80 && r <= 0xa4cf && r != 0x303f,
		r >= 0xac00 && r <= 0xd7a3, r >= 0xf900 && r <= 0xfaff, r >= 0xfe30 && r <= 0xfe4f,
		r >= 0xff00 && r <= 0xff60, r >= 0xffe0 && r <= 0xffe6,
		r >= 0x1f300 && r <= 0x1f64f, r >= 0x1f900 && r <= 0x1f9ff, r >= 0x20000 && r <= 0x3fffd:
		return 2
	}
	return 1
}

// columns is the terminal width of s.
func columns(s []byte) int {
	n := 0
	for _, r := range string(s) {
		n += runeWidth(r)
	}
	return n
}

// appendRightInt appends v right-aligned in n columns.
func appendRightInt(b []byte, v int64, n int) []byte {
	var num [20]byte
	return appendRight(b, view(strconv.AppendInt(num[:0], v, 10)), n)
}

// appendRight appends s right-aligned in n columns (ASCII only).
func appendRight(b []byte, s string, n int) []byte {
	for i := len(s); i < n; i++ {
		b = append(b, ' ')
	}
	return append(b, s...)
}
