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
	name, ok := localAddress(string(field[colon+1:]), c.cfg.IsLocalDomain)
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
