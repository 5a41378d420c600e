// Package addr is the vocabulary of mail addresses that every part of
// homepost speaks: parsing what users and scripts write (Parse,
// ParseList), formatting a mailbox for a header (Format), and taking an
// address apart or completing it (Split, Qualify).
//
// It is a leaf: it imports nothing of homepost, so the front ends
// (submit, bsmtp, mailx) and the relay share one reading of an address
// without depending on each other. Addresses are kept as strings, as
// they travel in the queue file and in SMTP commands; a quoted local
// part keeps its quotes, so that an address stays one address.
package addr

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Parse parses one address as given to -f or on a command line:
// "user", "user@host", "<user@host>" or "Name <user@host>".
func Parse(s string) (string, error) {
	list, err := ParseList(s)
	if err != nil {
		return "", err
	}
	if len(list) != 1 {
		return "", errors.New("want exactly one address")
	}
	return list[0], nil
}

// ParseList parses a comma-separated address list, as found in a To
// header or a command-line argument, and returns the bare addresses. It
// accepts what RFC 5322 allows (display names, groups, comments), and
// unqualified local names such as "root". A list that the strict parser
// rejects is read leniently, as sendmail does, so that a sloppy header
// written by a script still reaches its recipients.
func ParseList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if list, err := parseAddressList(s); err == nil {
		out := make([]string, 0, len(list))
		for _, a := range list {
			out = append(out, requote(a.Address))
		}
		return out, nil
	}
	var out []string
	for _, piece := range splitList(s) {
		a, err := lenient(piece)
		if err != nil {
			return nil, err
		}
		if a != "" {
			out = append(out, a)
		}
	}
	return out, nil
}

// ParseListEach is ParseList that keeps going past an element it cannot
// read: it returns the addresses of the elements it read, and an error
// for each of the others (which names the element). A list with one typo in
// it (a cron MAILTO, a Cc field) still reaches the others, as sendmail
// -oem delivers to the good addresses and mails the bad ones back.
func ParseListEach(s string) ([]string, []error) {
	if list, err := ParseList(s); err == nil {
		return list, nil
	}
	var out []string
	var bad []error
	for _, piece := range splitList(s) {
		a, err := lenient(piece)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		if a != "" {
			out = append(out, a)
		}
	}
	return out, bad
}

// Requote puts back the quotes that a parser took off a local part
// (net/mail's, go-smtp's for an SMTP path): given a b@example.org for
// "a b"@example.org, which is no longer one address, it returns the
// quoted form; an address whose local part needs no quotes is returned
// as it is.
func Requote(addr string) string { return requote(addr) }

// requote is Requote.
func requote(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 || isDotAtom(addr[:i]) {
		return addr
	}
	local := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(addr[:i])
	return `"` + local + `"` + addr[i:]
}

// isDotAtom reports whether s is an RFC 5322 dot-atom (8-bit bytes
// allowed, as RFC 6532 does): it needs no quotes.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80, c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// splitList splits at commas outside quotes, comments and angle brackets.
func splitList(s string) []string {
	var parts []string
	depth, angle, quoted, start := 0, false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && (quoted || depth > 0):
			i++
		case c == '"' && depth == 0:
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case (c == ',' || c == ';') && !angle:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// lenient extracts the address from one list element.
func lenient(p string) (string, error) {
	p = stripComments(strings.TrimSpace(p))
	if i := strings.IndexByte(p, ':'); i >= 0 && !strings.Contains(p[:i], "<") && !strings.Contains(p[:i], "@") && !strings.HasPrefix(p, "\"") {
		// "group: first" — the group's name is not an address.
		p = strings.TrimSpace(p[i+1:])
	}
	if p == "" {
		return "", nil
	}
	if i := strings.LastIndexByte(p, '<'); i >= 0 {
		j := strings.IndexByte(p[i:], '>')
		if j < 0 {
			return "", fmt.Errorf("unterminated <> in %q", p)
		}
		p = strings.TrimSpace(p[i+1 : i+j])
		if p == "" {
			return "", nil
		}
		if strings.HasPrefix(p, "@") {
			// A source route (RFC 5322 4.4 obs-route, RFC 5321
			// 4.1.2): "<@relay.example,@b.example:a@example.com>"
			// is a@example.com, as Postfix and sendmail read it.
			if k := strings.IndexByte(p, ':'); k > 0 {
				p = strings.TrimSpace(p[k+1:])
			}
		}
	}
	if p, err := checkAddr(p); err != nil {
		return "", err
	} else {
		return p, nil
	}
}

func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (quoted || depth > 0) && i+1 < len(s):
			// A quoted pair: keep both bytes (or drop both, in a
			// comment), and let neither end a quote or a comment.
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
			continue
		case c == '"' && depth == 0:
			quoted = !quoted
		case !quoted && c == '(':
			depth++
			continue
		case !quoted && c == ')' && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}

// checkAddr refuses what can never be an address: white space outside
// quotes, control characters, an empty local part, more than one '@'
// outside quotes ("a@@x", which only a smarthost's bounce would tell),
// bytes that are not UTF-8. RFC 6532 lets an address hold UTF-8 and
// nothing else of 8 bits; a smarthost refuses the rest ("500 5.5.2
// Error: bad UTF-8 syntax" from Postfix), and the bounce could not even
// show what was sent.
func checkAddr(a string) (string, error) {
	if a == "" {
		return "", errors.New("empty address")
	}
	if !utf8.ValidString(a) {
		return "", fmt.Errorf("%q is not an address: it is not valid UTF-8", a)
	}
	quoted := false
	ats := 0
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch {
		case c == '\\' && quoted && i+1 < len(a):
			// A quoted pair: the next byte is text, even a quote
			// (RFC 5322 3.2.1).
			i++
			if a[i] < 32 || a[i] == 127 {
				return "", fmt.Errorf("control character in address %q", a)
			}
		case c == '"':
			quoted = !quoted
		case c < 32 || c == 127:
			return "", fmt.Errorf("control character in address %q", a)
		case (c == ' ' || c == '\t') && !quoted:
			return "", fmt.Errorf("white space in address %q", a)
		case (c == '<' || c == '>' || c == ',') && !quoted:
			return "", fmt.Errorf("%q is not an address", a)
		case c == '@' && !quoted:
			if ats++; ats > 1 {
				return "", fmt.Errorf("%q is not an address: more than one @", a)
			}
		}
	}
	if strings.HasPrefix(a, "@") || strings.HasSuffix(a, "@") {
		return "", fmt.Errorf("%q is not an address", a)
	}
	return a, nil
}

// Format formats a mailbox with an optional display name, RFC 2047
// encoding the name when it is not plain ASCII. A name that is not
// UTF-8 (sendmail -F typed in Latin-1) is read as HeaderText reads it:
// written as it was, its encoded word said utf-8 and held Latin-1
// bytes, which no reader decodes.
func Format(name, addr string) string {
	if name == "" {
		return addr
	}
	return Phrase(name) + " <" + addr + ">"
}

// Phrase formats a display name, or the name of a group of addresses,
// as Format writes it: as it is, quoted, or RFC 2047 encoded when it is
// not plain ASCII (read as HeaderText reads it). mail(1) writes the names
// in a field given on its command line with it.
func Phrase(name string) string {
	name = HeaderText(name)
	// net/mail quotes or encodes the name; it formats a whole mailbox,
	// whose address is cut off again.
	s := (&mailbox{Name: name, Address: "a@b"}).String()
	return strings.TrimSuffix(s, " <a@b>")
}

// Split splits an address at its last "@": the local part, the domain,
// and whether there was a domain at all.
func Split(addr string) (local, domain string, hasDomain bool) {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[:i], addr[i+1:], true
	}
	return addr, "", false
}

// Qualify makes a bare local part an address of host; an address with a
// domain, and the null address "", are returned as they are.
func Qualify(addr, host string) string {
	if addr == "" || strings.Contains(addr, "@") {
		return addr
	}
	return addr + "@" + host
}
