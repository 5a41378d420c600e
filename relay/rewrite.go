package relay

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"net/mail"
	"strings"

	"homepost/addr"
)

// maxHead bounds the header read into memory for rewriting; a larger
// header is sent on as it is.
const maxHead = 1 << 20

// readHead reads the header section, up to and including the empty line
// that ends it (or everything, for a message that is all header), at
// most maxHead bytes.
func readHead(br *bufio.Reader) ([]byte, error) {
	var head []byte
	for len(head) < maxHead {
		line, err := br.ReadSlice('\n')
		head = append(head, line...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case errors.Is(err, io.EOF):
			return head, nil
		case err != nil:
			return nil, err
		}
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			return head, nil
		}
	}
	return head, nil
}

// rewriteFrom replaces the first From: field when it names one local
// address, keeping its display name. Every other byte stays as it is.
func (c *Client) rewriteFrom(head []byte) []byte {
	if c.from == "" {
		return head
	}
	start, end := findField(head, "From")
	if start < 0 {
		return head
	}
	field := head[start:end]
	colon := bytes.IndexByte(field, ':')
	// An address literal naming this machine (root@[127.0.0.1]) is
	// local too, as the resolver takes it (addr.LocalLiteral).
	isLocal := func(d string) bool { return c.cfg.IsLocalDomain(d) || addr.LocalLiteral(d) }
	name, ok := localAddress(string(field[colon+1:]), isLocal)
	if !ok {
		return head
	}
	nl := "\n"
	if bytes.HasSuffix(field, []byte("\r\n")) {
		nl = "\r\n"
	}
	out := make([]byte, 0, len(head)+len(c.from))
	out = append(out, head[:start]...)
	if repl, ok := replaceAngle(field, c.from); ok {
		out = append(out, repl...)
	} else {
		out = append(out, field[:colon+1]...)
		out = append(out, ' ')
		out = append(out, formatAddress(name, c.from)...)
		out = append(out, nl...)
	}
	return append(out, head[end:]...)
}

// replaceAngle rewrites "Name <addr>" by replacing only what is between
// the angle brackets, so that the display name, its quoting, encoding
// and folding stay byte for byte. It checks that the result still
// parses as the new address.
func replaceAngle(field []byte, addr string) ([]byte, bool) {
	gt := bytes.LastIndexByte(field, '>')
	if gt < 0 {
		return nil, false
	}
	lt := bytes.LastIndexByte(field[:gt], '<')
	if lt < 0 {
		return nil, false
	}
	out := make([]byte, 0, len(field)+len(addr))
	out = append(out, field[:lt+1]...)
	out = append(out, addr...)
	out = append(out, field[gt:]...)
	colon := bytes.IndexByte(out, ':')
	v := strings.NewReplacer("\r\n", "", "\n", "").Replace(string(out[colon+1:]))
	a, err := addrParser.Parse(strings.TrimSpace(v))
	if err != nil || !strings.EqualFold(a.Address, addr) {
		return nil, false
	}
	return out, true
}

// findField returns the byte range of the first field called name,
// continuation lines included, or -1.
func findField(head []byte, name string) (int, int) {
	start := -1
	for off := 0; off < len(head); {
		end := bytes.IndexByte(head[off:], '\n')
		if end < 0 {
			end = len(head)
		} else {
			end += off + 1
		}
		line := head[off:end]
		cont := len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
		if start >= 0 && !cont {
			return start, off
		}
		if start < 0 && !cont {
			if len(line) <= 2 && strings.TrimRight(string(line), "\r\n") == "" {
				return -1, -1 // end of header
			}
			if i := bytes.IndexByte(line, ':'); i > 0 && strings.EqualFold(strings.TrimRight(string(line[:i]), " \t"), name) {
				start = off
			}
		}
		off = end
	}
	if start >= 0 {
		return start, len(head)
	}
	return -1, -1
}

var addrParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{}}

// localAddress parses a From: value and reports whether it is one
// address with no domain or a local one; name is its display name (or
// its comment, as in cron's "root (Cron Daemon)").
func localAddress(value string, isLocal func(string) bool) (name string, ok bool) {
	v := strings.TrimSpace(strings.NewReplacer("\r\n", "", "\n", "").Replace(value))
	if v == "" {
		return "", false
	}
	if a, err := addrParser.Parse(v); err == nil {
		at := strings.LastIndexByte(a.Address, '@')
		if at < 0 || !isLocal(a.Address[at+1:]) {
			return "", false
		}
		return a.Name, true
	}
	if strings.Contains(v, "@") {
		return "", false
	}
	// No domain: give it one that parses, and take the name.
	var withDomain string
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		if !strings.HasSuffix(v, ">") {
			return "", false
		}
		withDomain = v[:len(v)-1] + "@localhost>"
	} else {
		local, rest, _ := strings.Cut(v, " ")
		if j := strings.IndexByte(local, '('); j > 0 {
			local, rest = local[:j], local[j:]+" "+rest
		}
		withDomain = local + "@localhost " + rest
	}
	a, err := addrParser.Parse(strings.TrimSpace(withDomain))
	if err != nil {
		return "", false
	}
	return a.Name, true
}

// formatAddress writes "Name <a>", quoting or encoding the name only
// when it needs it.
func formatAddress(name, a string) string {
	if name == "" {
		return a
	}
	for _, r := range name {
		if !(r == ' ' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)) {
			return addr.Format(name, a)
		}
	}
	return name + " <" + a + ">"
}

// qualifiedFields are the header fields whose unqualified addresses are
// completed on the way to the smarthost.
var qualifiedFields = []string{"From", "To", "Cc", "Reply-To"}

// rewrite is what the header of every message that leaves through the
// smarthost goes through: the From rewriting (relay.from), then the
// addresses without a domain in From, To, Cc and Reply-To get one, as
// Postfix's append_at_myorigin gives them (mail -s x nu1 writes "To:
// nu1", which means nothing to the rest of the world). Every other byte
// of the header stays as it is.
func (c *Client) rewrite(head []byte) []byte {
	head = c.rewriteFrom(head)
	domain := c.originDomain()
	for _, name := range qualifiedFields {
		head = qualifyField(head, name, domain)
	}
	return head
}

// originDomain is the domain that unqualified addresses get: that of
// relay.from where it is set (the domain the smarthost knows the user
// by), else the host name, as homepost qualifies envelope addresses.
func (c *Client) originDomain() string {
	if at := strings.LastIndexByte(c.from, '@'); at >= 0 {
		return c.from[at+1:]
	}
	return c.cfg.Hostname
}

// qualifyField completes the unqualified addresses of the first field
// called name. A field whose result would not parse as an address list
// is left as it was.
func qualifyField(head []byte, name, domain string) []byte {
	start, end := findField(head, name)
	if start < 0 || domain == "" {
		return head
	}
	field := head[start:end]
	colon := bytes.IndexByte(field, ':')
	value, ok := qualifyList(field[colon+1:], domain)
	if !ok {
		return head
	}
	list, err := addrParser.ParseList(checkable(value))
	if err != nil {
		return head
	}
	for _, a := range list {
		if !strings.Contains(a.Address, "@") {
			return head
		}
	}
	out := make([]byte, 0, len(head)+len(value)-(len(field)-colon-1))
	out = append(out, head[:start+colon+1]...)
	out = append(out, value...)
	return append(out, head[end:]...)
}

// checkable is a field value as net/mail's parser can check it, with
// what RFC 5322 allows and net/mail does not taken out: the line breaks
// of folding, comments, which stand for white space (3.2.2) and may come
// before a mailbox ("Cc: (Kommentar) nu1"), and white space just inside
// angle brackets ("< nu1 >", "<nu1 (Kommentar)>": a dot-atom may have
// CFWS on either side, 3.2.3).
func checkable(value []byte) string {
	v := strings.NewReplacer("\r\n", "", "\n", "").Replace(string(blankComments(value)))
	var b strings.Builder
	quoted := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quoted && c == '\\' && i+1 < len(v):
			b.WriteByte(c)
			i++
			c = v[i]
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			for i+1 < len(v) && (v[i+1] == ' ' || v[i+1] == '\t') {
				i++
			}
		case c == ' ' || c == '\t':
			j := i
			for j < len(v) && (v[j] == ' ' || v[j] == '\t') {
				j++
			}
			if j < len(v) && v[j] == '>' {
				i = j - 1
				continue
			}
		}
		b.WriteByte(c)
	}
	return strings.TrimSpace(b.String())
}

// qualifyList inserts "@"+domain after every local part in an address
// list (a field's value, folding included) that has no domain:
// "nu1" and "Name <nu1>" and "nu1 (comment)" and "(comment) nu1" and
// "<(comment) nu1>". It reports whether it inserted anything. Display
// names, comments, quoted strings and groups are read as RFC 5322 §3.4
// writes them and kept byte for byte; a mailbox that is not plainly one
// local part (two words without angle brackets, a source route) is left
// alone.
func qualifyList(orig []byte, domain string) ([]byte, bool) {
	// The list is read with its comments blanked out (CFWS, RFC 5322
	// 3.2.2, may stand wherever white space may); the insertions are
	// made in orig, whose offsets blankComments keeps.
	v := blankComments(orig)
	var at []int // where to insert
	// The mailbox being read: its words outside comments.
	var (
		words    int
		wordEnd  int  // just past the last word
		local    bool // the words so far can be a local part
		hasAt    bool
		angle    = -1 // the index of '<', or -1
		angleEnd = -1 // the index of '>'
	)
	reset := func() {
		words, wordEnd, local, hasAt, angle, angleEnd = 0, 0, true, false, -1, -1
	}
	reset()
	finish := func() {
		switch {
		case angle >= 0 && angleEnd > angle:
			inner := bytes.TrimSpace(v[angle+1 : angleEnd])
			if len(inner) > 0 && inner[0] != '@' && !bytes.ContainsRune(inner, '@') && localPart(inner) {
				at = append(at, angle+1+bytes.Index(v[angle+1:angleEnd], inner)+len(inner))
			}
		case angle < 0 && words == 1 && local && !hasAt:
			at = append(at, wordEnd)
		}
		reset()
	}
	lastWasSpace := false
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case ch == '"':
			j := i + 1
			for ; j < len(v) && v[j] != '"'; j++ {
				if v[j] == '\\' {
					j++
				}
			}
			if angle < 0 || angleEnd >= 0 {
				if words == 0 || lastWasSpace {
					words++
				}
				wordEnd = min(j+1, len(v))
			}
			i = j
			lastWasSpace = false
		case ch == '<':
			if angle >= 0 {
				return orig, false // nested angles: not an address list
			}
			angle = i
			for j := i + 1; j < len(v); j++ {
				if v[j] == '"' {
					for j++; j < len(v) && v[j] != '"'; j++ {
						if v[j] == '\\' {
							j++
						}
					}
					continue
				}
				if v[j] == '>' {
					angleEnd = j
					break
				}
			}
			if angleEnd < 0 {
				return orig, false
			}
			i = angleEnd
			lastWasSpace = false
		case ch == ',':
			finish()
			lastWasSpace = true
		case ch == ':':
			// A group's display name ends here; its members follow.
			reset()
			lastWasSpace = true
		case ch == ';':
			finish()
			lastWasSpace = true
		case ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n':
			lastWasSpace = true
		default:
			if words == 0 || lastWasSpace {
				words++
			}
			if ch == '@' {
				hasAt = true
			}
			if !atext(ch) && ch != '.' && ch != '@' {
				local = false
			}
			wordEnd = i + 1
			lastWasSpace = false
		}
	}
	finish()
	if len(at) == 0 {
		return orig, false
	}
	out := make([]byte, 0, len(orig)+len(at)*(len(domain)+1))
	prev := 0
	for _, p := range at {
		out = append(out, orig[prev:p]...)
		out = append(out, '@')
		out = append(out, domain...)
		prev = p
	}
	return append(out, orig[prev:]...), true
}

// blankComments returns a copy of v, the same length, in which every
// comment of RFC 5322 3.2.2, parentheses included, nested comments and
// quoted pairs within, is spaces: what a comment stands for where it may
// be. A parenthesis in a quoted string is text, not a comment; an
// unclosed comment runs to the end.
func blankComments(v []byte) []byte {
	out := bytes.Clone(v)
	depth, quoted := 0, false
	for i := 0; i < len(out); i++ {
		c := out[i]
		switch {
		case c == '\\' && (quoted || depth > 0):
			// A quoted pair: the next byte is text, even a quote or
			// a parenthesis.
			if depth > 0 {
				out[i] = ' '
				if i+1 < len(out) {
					out[i+1] = ' '
				}
			}
			i++
		case quoted:
			quoted = c != '"'
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
			out[i] = ' '
		case c == ')' && depth > 0:
			depth--
			out[i] = ' '
		case depth > 0:
			out[i] = ' '
		}
	}
	return out
}

// localPart reports whether s is a dot-atom or a quoted string.
func localPart(s []byte) bool {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return true
	}
	for _, ch := range s {
		if !atext(ch) && ch != '.' {
			return false
		}
	}
	return len(s) > 0 && s[0] != '.' && s[len(s)-1] != '.'
}

// atext reports whether ch may appear in an atom (RFC 5322 §3.2.3);
// bytes of UTF-8 (RFC 6532) may too.
func atext(ch byte) bool {
	return ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", ch) >= 0 || ch >= 0x80
}
