package forwarder

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"homepost/addr"
)

// ParseError is one problem found in an aliases or .forward file, with
// its place. A Warning does not stop newaliases (a duplicate name, as in
// Postfix); anything else makes newaliases exit 78.
type ParseError struct {
	File    string
	Line    int
	Msg     string
	Warning bool
	// value: the problem is one value that cannot be read. The value
	// is kept (badValue) and resolve deals with it, so badLines does
	// not report it again.
	value bool
	// name is the alias name (lowercased) that an entry which cannot
	// be read at all starts with, or "": mail for that name bounces
	// with this error instead of going on as if there were no entry.
	name string
	// attached: the line is also a value of the entry above it, whose
	// value ends with a comma (attach): it is not left out.
	attached bool
}

func (e *ParseError) Error() string {
	if e.Warning {
		return fmt.Sprintf("%s:%d: warning: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// IsWarning reports whether err is only a warning.
func IsWarning(err error) bool {
	var pe *ParseError
	return errors.As(err, &pe) && pe.Warning
}

// value is one item of an alias's right-hand side or of a .forward file,
// quotes removed.
type value struct {
	text string
	line int
}

// badValue is a value that cannot be read: it is never dropped without
// a trace (resolve bounces it or keeps a copy in the store).
type badValue struct {
	text string // as written, or its start when too long
	line int
	why  string
}

// alias is one entry of an aliases file.
type alias struct {
	name   string // lowercased
	values []value
	bad    []badValue
	rhs    string // the right-hand side as written, for newaliases' counts
	line   int
}

// maxLine bounds one logical line, so that a corrupt file cannot make the
// agent hold an arbitrary amount of memory per entry.
const maxLine = 1 << 20

// parseReader reads an aliases(5) file. It returns every entry it could
// read (the first of duplicate names wins, as in Postfix) and every
// problem as a *ParseError naming name:line. A bad line or value is
// skipped; the rest of the file still counts.
func parseReader(r io.Reader, name string) ([]*alias, []error) {
	var (
		list []*alias
		errs []error
		seen = map[string]int{}
		cur  *logicalLine
		// open is the entry read last when its value ends with a
		// comma: it says that more follows.
		open *alias
	)
	finish := func() {
		if cur == nil {
			return
		}
		ll := cur
		a, lerrs := parseEntry(cur, name)
		cur = nil
		if a == nil {
			if open != nil {
				// A line that cannot be read right after a value
				// ending with a comma: most likely a continuation
				// written without its leading blank. It is part of
				// that entry, which bounces for it (see attach).
				attach(open, ll, lerrs)
				if !strings.HasSuffix(strings.TrimSpace(ll.text), ",") {
					open = nil
				}
			}
			errs = append(errs, lerrs...)
			return
		}
		errs = append(errs, lerrs...)
		open = nil
		if first, dup := seen[a.name]; dup {
			errs = append(errs, &ParseError{File: name, Line: a.line, Warning: true, name: a.name,
				Msg: fmt.Sprintf("duplicate alias %q ignored (first defined at line %d)", a.name, first)})
			return
		}
		seen[a.name] = a.line
		list = append(list, a)
		if strings.HasSuffix(a.rhs, ",") {
			open = a
		}
	}
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		s, err := br.ReadString('\n')
		if s == "" && err != nil {
			if err != io.EOF {
				errs = append(errs, &ParseError{File: name, Line: n, Msg: err.Error()})
			}
			break
		}
		s = strings.TrimRight(s, "\r\n")
		if n == 1 {
			s = strings.TrimPrefix(s, byteOrderMark)
		}
		switch t := strings.TrimSpace(s); {
		case t == "" || t[0] == '#':
			// Blank and comment lines are ignored, even between a line
			// and its continuation.
		case s[0] == ' ' || s[0] == '\t':
			switch {
			case cur == nil:
				errs = append(errs, &ParseError{File: name, Line: n, Msg: "continuation line without an alias before it"})
			case len(cur.text)+len(s) > maxLine:
				// The entry keeps what it has; the line left out
				// bounces rather than being dropped.
				cur.lost = append(cur.lost, lostLine{n, t})
			default:
				cur.at = append(cur.at, lineStart{len(cur.text) + 1, n})
				cur.text += " " + t
			}
		default:
			finish()
			if len(s) > maxLine {
				// The name still names an alias, whose mail bounces
				// for the line that cannot be read.
				i := strings.IndexByte(s[:min(len(s), 4096)], ':')
				if i < 0 || s[0] == '"' {
					errs = append(errs, &ParseError{File: name, Line: n, Msg: "line too long"})
					break
				}
				cur = &logicalLine{text: s[:i+1], at: []lineStart{{0, n}}, lost: []lostLine{{n, strings.TrimSpace(s[i+1:])}}}
				break
			}
			cur = &logicalLine{text: s, at: []lineStart{{0, n}}}
		}
		if err != nil {
			if err != io.EOF {
				errs = append(errs, &ParseError{File: name, Line: n, Msg: err.Error()})
			}
			break
		}
	}
	finish()
	return list, errs
}

// logicalLine is an entry spread over a line and its continuations; at
// maps offsets in text back to physical line numbers. lost holds the
// lines that would have made the entry longer than maxLine.
type logicalLine struct {
	text string
	at   []lineStart
	lost []lostLine
}

type lineStart struct{ off, line int }

type lostLine struct {
	line int
	text string
}

// byteOrderMark is what some editors write at the start of a UTF-8
// file; it is no part of the first name or value.
const byteOrderMark = "\ufeff"

// excerpt is the start of a text too long to show whole.
func excerpt(s string) string {
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

func (l *logicalLine) lineAt(off int) int {
	n := l.at[0].line
	for _, s := range l.at {
		if s.off > off {
			break
		}
		n = s.line
	}
	return n
}

// attach makes a line that cannot be read as an entry (ll, with the
// errors that say why) a value of the entry above it, a, whose value
// ends with a comma. sendmail and Postfix take the line for a broken
// entry of its own and leave it out, so that whoever it names silently
// gets nothing; here it is a value that cannot be read: mail for a goes
// to its other values and bounces (5.1.3) for this line, naming it. The
// errors are reworded to say so, and still name the line's own first
// word (mail for it bounces too, as for any entry that cannot be read).
func attach(a *alias, ll *logicalLine, errs []error) {
	why := "not indented, so no continuation"
	for _, err := range errs {
		if pe, ok := err.(*ParseError); ok {
			why = fmt.Sprintf("not indented, so no continuation of alias %s above it, and no entry: %s", a.name, pe.Msg)
			pe.attached = true
			pe.Msg = fmt.Sprintf("%s; alias %s (line %d) ends with ',', so mail for %s bounces for this line: indent it if it continues %s", pe.Msg, a.name, a.line, a.name, a.name)
			break
		}
	}
	a.bad = append(a.bad, badValue{text: excerpt(strings.TrimSpace(ll.text)), line: ll.at[0].line, why: why})
}

// parseEntry splits "name: value, value" and checks every value.
func parseEntry(ll *logicalLine, file string) (*alias, []error) {
	line := ll.at[0].line
	var name string
	bad := func(msg string, args ...any) []error {
		return []error{&ParseError{File: file, Line: line, Msg: fmt.Sprintf(msg, args...), name: strings.ToLower(name)}}
	}
	text := ll.text
	rest := ""
	if text[0] == '"' {
		end := strings.IndexByte(text[1:], '"')
		if end < 0 {
			return nil, bad("unterminated quote in alias name")
		}
		name = text[1 : end+1]
		rest = strings.TrimLeft(text[end+2:], " \t")
		if !strings.HasPrefix(rest, ":") {
			return nil, bad("missing ':' after alias name %q", name)
		}
		rest = rest[1:]
	} else {
		i := strings.IndexByte(text, ':')
		if i < 0 {
			name = strings.Fields(text)[0]
			return nil, bad("missing ':' (expected \"name: value, ...\")")
		}
		name = strings.TrimRight(text[:i], " \t")
		if strings.ContainsAny(name, " \t") {
			return nil, bad("alias name %q contains blank space (quote it, or is a ':' missing?)", name)
		}
		rest = text[i+1:]
	}
	name = strings.ToLower(name)
	switch {
	case name == "":
		return nil, bad("empty alias name")
	case strings.Contains(name, "@"):
		return nil, bad("alias name %q is an address: only a local part can be aliased", name)
	case hasControl(name):
		return nil, bad("alias name %q contains a control character", name)
	case !utf8.ValidString(name):
		return nil, bad("alias name %q is not valid UTF-8", name)
	}
	a := &alias{name: name, line: line, rhs: strings.TrimSpace(rest)}
	base := len(text) - len(rest)
	vals, unread, errs := splitValues(rest, func(off int) int { return ll.lineAt(base + off) }, file)
	for _, l := range ll.lost {
		why := fmt.Sprintf("entry longer than %d MiB: line left out", maxLine>>20)
		errs = append(errs, &ParseError{File: file, Line: l.line, Msg: why, value: true})
		unread = append(unread, badValue{text: excerpt(l.text), line: l.line, why: why})
	}
	a.values, a.bad = vals, unread
	if len(vals) == 0 && len(errs) == 0 {
		errs = append(errs, &ParseError{File: file, Line: line, Msg: fmt.Sprintf("alias %q has no value", name)})
	}
	return a, errs
}

// parseForward reads a .forward or :include: file: values separated by
// commas or newlines, "#" comment lines. No values means no forwarding.
func parseForward(r io.Reader, name string) ([]value, []badValue, []error) {
	var vals []value
	var bad []badValue
	var errs []error
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		s, err := br.ReadString('\n')
		if len(s) > maxLine {
			errs = append(errs, &ParseError{File: name, Line: n, Msg: "line too long", value: true})
			bad = append(bad, badValue{text: excerpt(s), line: n, why: "line too long"})
			s = ""
		}
		if n == 1 {
			s = strings.TrimPrefix(s, byteOrderMark)
		}
		s = strings.TrimRight(s, "\r\n")
		if t := strings.TrimSpace(s); t != "" && t[0] != '#' {
			line := n
			v, b, e := splitValues(s, func(int) int { return line }, name)
			vals = append(vals, v...)
			bad = append(bad, b...)
			errs = append(errs, e...)
		}
		if err != nil {
			if err != io.EOF {
				errs = append(errs, &ParseError{File: name, Line: n, Msg: err.Error()})
			}
			return vals, bad, errs
		}
	}
}

// splitValues splits a comma-separated list, honouring double quotes
// (with backslash escapes inside them), and checks each value: a value
// that cannot be read is returned in bad, as written, and reported in
// errs. lineAt maps an offset in s to its line.
func splitValues(s string, lineAt func(off int) int, file string) ([]value, []badValue, []error) {
	var vals []value
	var bad []badValue
	var errs []error
	var cur strings.Builder
	first, quoted, inQuote, command := -1, false, false, false
	inSingle := false // in '...' within a command
	// A value that is no command, file or :include: may carry RFC 5322
	// comments, "alice@example.org (Alice)", which sendmail and Postfix
	// set aside; written is such a value as written, comments left out.
	addrLike, comment := false, 0
	var written strings.Builder
	flush := func(end int) {
		text := strings.TrimSpace(cur.String())
		raw := strings.TrimSpace(written.String())
		cur.Reset()
		written.Reset()
		if first < 0 {
			first = end
		}
		line := lineAt(first)
		switch {
		case command:
			text = unquoteCommand(text)
		case len(text) >= len(":include:") && strings.EqualFold(text[:len(":include:")], ":include:"):
			// Matched without regard to case, as Postfix and sendmail do.
			text = ":include:" + text[len(":include:"):]
		case quoted && text != "" && !strings.ContainsRune("|/:~\\", rune(text[0])):
			if a, ok := quotedAddress(raw); ok {
				text = a
			}
		case addrLike:
			text = joinAt(text)
		}
		if text != "" || quoted {
			if msg := checkValue(text, quoted); msg != "" {
				errs = append(errs, &ParseError{File: file, Line: line, Msg: msg, value: true})
				bad = append(bad, badValue{text: strings.TrimSpace(s[first:end]), line: line, why: msg})
			} else {
				vals = append(vals, value{text: normalizeValue(text), line: line})
			}
		}
		first, quoted, command, addrLike = -1, false, false, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if first < 0 && c != ' ' && c != '\t' && (c != ',' || inQuote) {
			first = i
			command = c == '|' && !inQuote
			addrLike = inQuote || !strings.ContainsRune("|/~:", rune(c))
		}
		switch {
		case command:
			// An unquoted |command is kept as written, quotes and
			// backslashes included, for /bin/sh to read. They are
			// read as the shell reads them only to know whether a
			// comma ends the value: inside '...' or "..." or after
			// a backslash it does not.
			switch {
			case inSingle:
				inSingle = c != '\''
			case c == '\\' && i+1 < len(s):
				cur.WriteByte(c)
				i++
				c = s[i]
			case c == '"':
				inQuote = !inQuote
			case c == '\'' && !inQuote:
				inSingle = true
			case c == ',' && !inQuote:
				flush(i)
				continue
			}
			cur.WriteByte(c)
		case comment > 0:
			switch {
			case c == '\\' && i+1 < len(s):
				i++
			case c == '(':
				comment++
			case c == ')':
				comment--
			}
			if comment == 0 {
				cur.WriteByte(' ')
				written.WriteByte(' ')
			}
		case inQuote && c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			written.WriteByte(c)
			written.WriteByte(s[i])
		case c == '"':
			inQuote = !inQuote
			quoted = true
			written.WriteByte(c)
		case c == '(' && !inQuote && addrLike:
			comment = 1
		case c == ',' && !inQuote:
			flush(i)
		default:
			cur.WriteByte(c)
			written.WriteByte(c)
		}
	}
	if inQuote || inSingle || comment > 0 {
		text := strings.TrimSpace(s[first:])
		msg := fmt.Sprintf("unterminated quote in %q", text)
		if comment > 0 {
			msg = fmt.Sprintf("unterminated comment in %q", text)
		}
		errs = append(errs, &ParseError{File: file, Line: lineAt(first), Msg: msg, value: true})
		bad = append(bad, badValue{text: text, line: lineAt(first), why: msg})
		return vals, bad, errs
	}
	flush(len(s))
	return vals, bad, errs
}

// unquoteCommand reads |"command args", the form sendmail documents
// beside "|command args", as the command inside the quotes. Any other
// unquoted command is kept as written: its quotes are the shell's.
func unquoteCommand(v string) string {
	rest := strings.TrimLeft(v[1:], " \t")
	if len(rest) < 2 || rest[0] != '"' {
		return v
	}
	var b strings.Builder
	for i := 1; i < len(rest); i++ {
		switch c := rest[i]; {
		case c == '\\' && i+1 < len(rest):
			i++
			b.WriteByte(rest[i])
		case c == '"':
			if i != len(rest)-1 {
				return v // more follows the quotes: the shell's business
			}
			return "|" + b.String()
		default:
			b.WriteByte(c)
		}
	}
	return v
}

// quotedAddress reads an address whose local part is quoted,
// "a b"@example.org, or a quoted local name, "two words", from the value
// as written. The local part keeps its quotes where it needs them
// (addr.Requote), so that it stays one address on its way to the
// smarthost; the resolver looks it up unquoted.
func quotedAddress(raw string) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	var local strings.Builder
	for i := 1; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '\\' && i+1 < len(raw):
			i++
			local.WriteByte(raw[i])
		case c == '"':
			rest := raw[i+1:]
			switch {
			case rest == "" && !strings.Contains(local.String(), "@"):
				return quoteLocal(local.String()), true
			case strings.HasPrefix(rest, "@") && !strings.ContainsAny(rest, "\" \t\\"):
				return addr.Requote(local.String() + rest), true
			}
			return "", false
		default:
			local.WriteByte(c)
		}
	}
	return "", false
}

// joinAt joins an address written with blanks around its '@'
// ("carol @ example.org"), as sendmail's and Postfix's tokenizers read
// it. Any other blank space is left for checkValue to refuse.
func joinAt(text string) string {
	f := strings.Fields(text)
	if len(f) < 2 || len(f) > 3 || strings.Count(text, "@") != 1 {
		return text
	}
	for i := 1; i < len(f); i++ {
		if !strings.HasSuffix(f[i-1], "@") && !strings.HasPrefix(f[i], "@") {
			return text
		}
	}
	return strings.Join(f, "")
}

// quoteLocal quotes a local part that is no dot-atom.
func quoteLocal(local string) string {
	q := addr.Requote(local + "@x")
	return q[:len(q)-len("@x")]
}

// unquoteLocal is the local part as it reads, quotes and escapes
// removed: the key for the aliases, the logins and ~/.forward.
func unquoteLocal(local string) string {
	if len(local) < 2 || local[0] != '"' || local[len(local)-1] != '"' {
		return local
	}
	var b strings.Builder
	for i := 1; i < len(local)-1; i++ {
		if local[i] == '\\' && i+1 < len(local)-1 {
			i++
		}
		b.WriteByte(local[i])
	}
	return b.String()
}

// normalizeValue reduces "Name <addr>" to addr.
func normalizeValue(v string) string {
	switch v[0] {
	case '|', '/', ':', '~', '\\':
		return v
	}
	if i := strings.LastIndexByte(v, '<'); i >= 0 && strings.HasSuffix(v, ">") {
		return strings.TrimSpace(v[i+1 : len(v)-1])
	}
	return v
}

// checkValue says what is wrong with one value, or "".
func checkValue(v string, quoted bool) string {
	if v == "" {
		return "empty quoted value"
	}
	if hasControl(v) {
		return fmt.Sprintf("value %q contains a control character", v)
	}
	switch {
	case strings.HasPrefix(v, "|"):
		if strings.TrimSpace(v[1:]) == "" {
			return "empty command after '|'"
		}
		return ""
	case strings.HasPrefix(v, ":include:"):
		p := strings.TrimSpace(v[len(":include:"):])
		if p == "" {
			return ":include: without a file name"
		}
		if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "~/") {
			return fmt.Sprintf(":include:%s: the file name must be absolute", p)
		}
		return ""
	case strings.HasPrefix(v, ":"):
		return fmt.Sprintf("unknown value %q (only :include: is supported)", v)
	case strings.HasPrefix(v, "/"), strings.HasPrefix(v, "~/"):
		return ""
	case strings.HasPrefix(v, "~"):
		return fmt.Sprintf("%q: only ~/ (your own home) is supported", v)
	case strings.HasPrefix(v, `\`):
		u := v[1:]
		if u == "" || strings.ContainsAny(u, " \t@<>,") {
			return fmt.Sprintf("%q: expected \\user", v)
		}
		return ""
	}
	a := normalizeValue(v)
	if a == "" || a != v && strings.ContainsAny(a, "<>") {
		return fmt.Sprintf("%q is not an address", v)
	}
	if strings.HasPrefix(a, `"`) {
		// A quoted local part, from quotedAddress: only the domain
		// is left to check.
		local, domain, hasDomain := addr.Split(a)
		if unquoteLocal(local) == "" || hasDomain && (domain == "" || strings.ContainsAny(domain, "<>()[];\" \t")) {
			return fmt.Sprintf("%q is not an address", v)
		}
		return ""
	}
	if strings.ContainsAny(a, " \t") {
		if quoted {
			return fmt.Sprintf("%q is not an address (a quoted value must start with |, / or :include:)", v)
		}
		hint := "separate values with commas, quote commands and file names"
		if strings.Contains(a, " #") || strings.Contains(a, "\t#") {
			hint = "'#' starts a comment only at the start of a line"
		}
		return fmt.Sprintf("%q contains blank space: %s", v, hint)
	}
	if strings.HasPrefix(a, "@") || strings.HasSuffix(a, "@") || strings.ContainsAny(a, "<>()[];\"") {
		return fmt.Sprintf("%q is not an address", v)
	}
	return ""
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 && s[i] != '\t' || s[i] == 0x7f {
			return true
		}
	}
	return false
}
