package mailx

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"
)

// summaryDate is the date column: the date of the mbox "From " line as
// BSD mail shows it, else the Date header in local time, else the file's
// modification time.
func (m *Msg) summaryDate() string {
	if m.FromLine != "" {
		if _, d, ok := strings.Cut(m.FromLine, " "); ok {
			d = strings.TrimSpace(d)
			if len(d) >= 16 {
				return d[:16]
			}
		}
	}
	if m.Date != "" {
		if t, err := mail.ParseDate(m.Date); err == nil {
			return t.Local().Format("Mon Jan _2 15:04")
		}
	}
	if !m.MTime.IsZero() {
		return m.MTime.Local().Format("Mon Jan _2 15:04")
	}
	return ""
}

// headerLine formats one line of the header summary in the BSD layout:
//
//	>N  1 sender@host           Sat Jan  2 08:50   11/312   Subject
func headerLine(m *Msg, current bool, width int) string {
	var b []byte
	if current {
		b = append(b, '>')
	} else {
		b = append(b, ' ')
	}
	b = append(b, m.stateChar())
	b = fmt.Appendf(b, "%3d ", m.Num)
	b = appendPadded(b, printable(m.sender()), 20)
	b = append(b, "  "...)
	b = appendPadded(b, m.summaryDate(), 16)
	lines := "?"
	if m.Lines >= 0 {
		lines = strconv.FormatInt(m.Lines, 10)
	}
	b = fmt.Appendf(b, " %4s/%-5d ", lines, m.Size)
	subj := decodeHeader(m.Subject)
	if room := width - utf8.RuneCount(b) - 1; room > 0 {
		b = appendTrunc(b, subj, room)
	}
	return strings.TrimRight(string(b), " ")
}

// appendPadded appends s cut or padded to n characters.
func appendPadded(b []byte, s string, n int) []byte {
	i := 0
	for _, r := range s {
		if i == n {
			break
		}
		b = utf8.AppendRune(b, r)
		i++
	}
	for ; i < n; i++ {
		b = append(b, ' ')
	}
	return b
}

func appendTrunc(b []byte, s string, n int) []byte {
	i := 0
	for _, r := range s {
		if i == n {
			break
		}
		b = utf8.AppendRune(b, r)
		i++
	}
	return b
}
