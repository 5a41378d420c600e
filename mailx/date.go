package mailx

import (
	"net/mail"
	"strings"
	"time"
)

var monthNames = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// parseDate parses a Date field. The usual RFC 5322 form
// "[Day, ]D Mon YYYY HH:MM[:SS] +ZZZZ" is parsed by hand, because the
// summary of a large mailbox parses one per message; anything else goes
// to net/mail.
func parseDate(s string) (time.Time, bool) {
	if t, ok := parseDateFast(s); ok {
		return t, true
	}
	t, err := mail.ParseDate(s)
	return t, err == nil
}

func parseDateFast(s string) (time.Time, bool) {
	p := strings.TrimSpace(s)
	if i := strings.IndexByte(p, ','); i >= 0 && i <= 4 {
		p = strings.TrimLeft(p[i+1:], " ")
	}
	num := func(min, max int) (int, bool) {
		n, i := 0, 0
		for i < len(p) && p[i] >= '0' && p[i] <= '9' && i < max {
			n = n*10 + int(p[i]-'0')
			i++
		}
		if i < min {
			return 0, false
		}
		p = p[i:]
		return n, true
	}
	skip := func(c byte) bool {
		if len(p) == 0 || p[0] != c {
			return false
		}
		p = p[1:]
		for c == ' ' && len(p) > 0 && p[0] == ' ' {
			p = p[1:]
		}
		return true
	}
	day, ok := num(1, 2)
	if !ok || !skip(' ') || len(p) < 3 {
		return time.Time{}, false
	}
	mon := -1
	for i, m := range monthNames {
		if strings.EqualFold(p[:3], m) {
			mon = i
			break
		}
	}
	p = p[3:]
	if mon < 0 || !skip(' ') {
		return time.Time{}, false
	}
	year, ok := num(4, 4)
	if !ok || !skip(' ') {
		return time.Time{}, false
	}
	hh, ok := num(2, 2)
	if !ok || !skip(':') {
		return time.Time{}, false
	}
	mm, ok := num(2, 2)
	if !ok {
		return time.Time{}, false
	}
	ss := 0
	if len(p) > 0 && p[0] == ':' {
		p = p[1:]
		if ss, ok = num(2, 2); !ok {
			return time.Time{}, false
		}
	}
	if !skip(' ') || len(p) < 5 || (p[0] != '+' && p[0] != '-') {
		return time.Time{}, false
	}
	sign := 1
	if p[0] == '-' {
		sign = -1
	}
	p = p[1:]
	zone, ok := num(4, 4)
	if !ok || (len(p) > 0 && p[0] != ' ' && p[0] != '\t') {
		return time.Time{}, false
	}
	off := sign * ((zone/100)*3600 + (zone%100)*60)
	if hh > 23 || mm > 59 || ss > 59 || day < 1 || day > 31 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(mon+1), day, hh, mm, ss, 0, time.FixedZone("", off)), true
}
