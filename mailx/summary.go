package mailx

import (
	"os"
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
		if t, ok := parseDate(m.Date); ok {
			return string(t.Local().AppendFormat(make([]byte, 0, 16), "Mon Jan _2 15:04"))
		}
	}
	if m.MTime.IsZero() && m.Path != "" {
		if st, err := os.Stat(m.Path); err == nil {
			m.MTime = st.ModTime()
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
	b := make([]byte, 0, 128)
	if current {
		b = append(b, '>')
	} else {
		b = append(b, ' ')
	}
	b = append(b, m.stateChar())
	b = appendRight(b, strconv.Itoa(m.Num), 3)
	b = append(b, ' ')
	b = appendPadded(b, printable(m.sender()), 20)
	b = append(b, "  "...)
	b = appendPadded(b, m.summaryDate(), 16)
	lines := "?"
	if m.Lines >= 0 {
		lines = strconv.FormatInt(m.Lines, 10)
	}
	b = append(b, ' ')
	b = appendRight(b, lines, 4)
	b = append(b, '/')
	b = appendPadded(b, strconv.FormatInt(m.Size, 10), 5)
	b = append(b, ' ')
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

// appendRight appends s right-aligned in n columns (ASCII only).
func appendRight(b []byte, s string, n int) []byte {
	for i := len(s); i < n; i++ {
		b = append(b, ' ')
	}
	return append(b, s...)
}
