package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/BurntSushi/toml"

	"homepost/settings"
)

// Errors is every error found in one file, in the order of its lines.
// errors.As finds the first *Error in it.
type Errors []*Error

// Error puts one error on each line.
func (e Errors) Error() string {
	s := make([]string, len(e))
	for i, x := range e {
		s[i] = x.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap gives the errors to errors.Is and errors.As.
func (e Errors) Unwrap() []error {
	out := make([]error, len(e))
	for i, x := range e {
		out[i] = x
	}
	return out
}

// maxErrors bounds how many errors of one file are reported (and how
// often the file is decoded again past a bad value).
const maxErrors = 50

// decodeFile decodes a config file's data and reports every error in it
// at once, each with file:line: a user who fixes the first error should
// not meet the second only on the next run.
//
// The TOML decoder stops at the first value of the wrong type, so such
// a line is blanked and the file decoded again; a syntax error is shown
// alone (what follows it cannot be read reliably). Keys are matched
// case-sensitively, as the documentation writes them: the decoder
// itself would take "Store" for "store".
func decodeFile(path string, data []byte, id Identity) (*Config, error) {
	// A byte order mark (Notepad and some editors write one) is no
	// part of the first line: the parser skips it, and the lines are
	// scanned here without it too, for keyLine's sake.
	data = skipBOM(data)
	if utf16BOM(data) {
		return nil, &Error{File: path, Msg: fmt.Sprintf("the file is UTF-16 (it starts with the bytes %X %X): save it as UTF-8", data[0], data[1])}
	}
	// Syntax first: what follows a syntax error cannot be read
	// reliably, so it is the only error shown.
	var probe map[string]any
	if _, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&probe); err != nil {
		e, _ := decodeError(path, data, err)
		return nil, e
	}
	var errs []*Error
	blanked := map[int]bool{}
	src := data
	var c *Config
	var md toml.MetaData
	for {
		c = settings.Base()
		var err error
		md, err = toml.NewDecoder(bytes.NewReader(src)).Decode(c)
		if err == nil {
			break
		}
		e, _ := decodeError(path, data, err)
		if e.Line <= 0 || blanked[e.Line] || len(errs) >= maxErrors {
			// Blanking a line of a value that spans several lines
			// can break the syntax: report what was found.
			if len(errs) == 0 {
				errs = append(errs, e)
			}
			return nil, report(errs)
		}
		errs = append(errs, e)
		blanked[e.Line] = true
		src = blankLine(src, e.Line)
	}
	unknown := map[string]bool{}
	for _, k := range md.Undecoded() {
		if len(k) > 1 && unknown[k[0]] {
			continue // in a table that is unknown itself ([realy]): said once
		}
		unknown[k.String()] = true
		errs = append(errs, &Error{File: path, Line: keyLine(data, k), Key: k.String(), Msg: "unknown key" + keyHint(data, k)})
	}
	errs = append(errs, caseErrors(path, data, md)...)
	c.File = path
	c.Finish(id)
	for _, e := range c.Problems() {
		e.File = path
		e.Line = problemLine(data, e.Key)
		errs = append(errs, e)
	}
	if md.IsDefined("hostname") {
		if err := settings.CheckHostname(c.Hostname); err != nil {
			errs = append(errs, &Error{File: path, Line: keyLine(data, []string{"hostname"}), Key: "hostname", Msg: err.Error()})
		}
	}
	if e := c.CheckQueue(); e != nil {
		e.File = path
		e.Line = keyLine(data, []string{e.Key})
		if e.Line == 0 && e.Key == "outbox" {
			// The outbox is the default one, in state_dir.
			if n := keyLine(data, []string{"state_dir"}); n > 0 {
				e.Line, e.Key = n, "state_dir"
			}
		}
		if e.Line == 0 {
			e.Msg += defaultPlace
		}
		errs = append(errs, e)
	}
	if (c.Relay.Password != "") && !md.IsDefined("relay", "password_command") {
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			errs = append(errs, &Error{File: path, Line: keyLine(data, []string{"relay", "password"}), Key: "relay.password",
				Msg: fmt.Sprintf("the file holds a password but is readable by others (mode %04o); chmod 600 %s", st.Mode().Perm(), path)})
		}
	}
	if len(errs) > 0 {
		return nil, report(errs)
	}
	return c, nil
}

// report sorts errs by line (those without one last) and returns the
// only one, or all of them as Errors.
func report(errs []*Error) error {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		if (a.Line == 0) != (b.Line == 0) {
			return cmp.Compare(b.Line, a.Line)
		}
		return cmp.Compare(a.Line, b.Line)
	})
	if len(errs) > maxErrors {
		errs = errs[:maxErrors]
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return Errors(errs)
}

// decodeError turns the decoder's error into an Error with the file's
// line, and says whether it is the parser's (the decoder's type errors
// are not; a value's own error, as a bad duration, is one too).
func decodeError(path string, data []byte, err error) (*Error, bool) {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		if e := twice(path, data, pe); e != nil {
			return e, true
		}
		return &Error{File: path, Line: pe.Position.Line, Key: pe.LastKey, Msg: hideSecret(data, pe.Position.Line, pe.LastKey, nameOddCharacter(pe.Message))}, true
	}
	if m := typeErr().FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: path, Line: line, Key: m[2], Msg: hideSecret(data, line, m[2], plainTypes(m[2], m[3]))}, false
	}
	return &Error{File: path, Msg: strings.TrimPrefix(err.Error(), "toml: ")}, true
}

// typeMismatch matches the decoder's words for a value of the wrong
// kind, which name Go's types for the value ("TOML value has type
// string") and the decoder's own words for the key's ("destination has
// type slice", "boolean", "integer", and "primitive (string-like)" for a
// type that reads its value from text, of which the file's only one is
// Duration).
var typeMismatch = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^incompatible types: TOML value has type ([A-Za-z0-9.\[\]]+); destination has type ([A-Za-z0-9.\[\]]+|primitive \(string-like\))$`)
})

// tableMismatch matches the decoder's words for a value given to a
// table's name (relay = 1): "type mismatch for settings.Relay: expected
// table but found int64".
var tableMismatch = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^type mismatch for [A-Za-z0-9.\[\]*]+: expected (table|map) but found ([A-Za-z0-9.\[\]]+)$`)
})

// plainTypes words a type mismatch of key's value for the person who
// wrote the file: "must be a list, as [\"a\", \"b\"], not a string".
// Other messages are returned as they are.
func plainTypes(key, msg string) string {
	m := typeMismatch().FindStringSubmatch(msg)
	if m == nil {
		m = tableMismatch().FindStringSubmatch(msg)
		if m == nil {
			return msg
		}
		// The value is m[2], the key's kind m[1]: in typeMismatch's order.
		m = []string{m[0], m[2], m[1]}
	}
	kind := func(t string) (string, string) {
		switch {
		case t == "string":
			return "a string", `"..."`
		case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint") || strings.HasPrefix(t, "float"):
			return "a number", "25"
		case t == "bool" || t == "boolean":
			return "true or false", "true"
		case t == "slice" || strings.HasPrefix(t, "[]"):
			return "a list", `["...", "..."]`
		case t == "map" || t == "table" || t == "struct" || strings.HasPrefix(t, "map["):
			name := key
			if name == "" {
				name = "name"
			}
			return "a table", "[" + name + "] on a line of its own"
		case t == "time.Time":
			return "a date or time", ""
		case t == "primitive (string-like)":
			return "a duration " + settings.DurationHint, ""
		}
		return "a value of another kind", ""
	}
	have, _ := kind(m[1])
	want, example := kind(m[2])
	if example != "" {
		return fmt.Sprintf("must be %s (as %s), not %s", want, example, have)
	}
	return fmt.Sprintf("must be %s, not %s", want, have)
}

// twiceMsg matches the parser's errors for a key or table set twice,
// which it words in its own style ("Key 'relay' has already been
// defined.").
var twiceMsg = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^Key '([^']*)' (has already been defined|was already created as a hash|was already created and cannot be used as an array)\.$`)
})

// twice words the parser's error for a key or a table set twice, with
// the line of the first, or returns nil for another error.
func twice(path string, data []byte, pe toml.ParseError) *Error {
	m := twiceMsg().FindStringSubmatch(pe.Message)
	if m == nil {
		return nil
	}
	name := m[1]
	key := strings.Split(name, ".")
	first := keyLine(data, key)
	at := ""
	if first > 0 && first != pe.Position.Line {
		at = fmt.Sprintf(" (first at line %d)", first)
	}
	e := &Error{File: path, Line: pe.Position.Line, Key: name}
	switch {
	case m[2] == "has already been defined" && isTableHeader(data, pe.Position.Line):
		e.Msg = fmt.Sprintf("[%s] is written twice%s: write its keys under one [%s]", name, at, name)
	case m[2] == "has already been defined":
		e.Msg = fmt.Sprintf("set twice%s: keep one", at)
	default:
		e.Msg = fmt.Sprintf("already set%s: it cannot also be a table", at)
	}
	return e
}

// isTableHeader reports whether line n (from 1) is a table header.
func isTableHeader(data []byte, n int) bool {
	lines := bytes.SplitN(data, []byte("\n"), n+1)
	return n >= 1 && n <= len(lines) && bytes.HasPrefix(bytes.TrimSpace(lines[n-1]), []byte("["))
}

// blankLine returns data with line n (from 1) made a comment, keeping
// every other line where it was.
func blankLine(data []byte, n int) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if n < 1 || n > len(lines) {
		return data
	}
	out := make([]byte, 0, len(data)+1)
	for i, l := range lines {
		if i == n-1 {
			out = append(out, '#')
		}
		out = append(out, l...)
	}
	return out
}

// keyNames is every key and table the file may set, as written in the
// documentation ("store", "relay", "relay.url").
var keyNames = sync.OnceValue(func() map[string]bool {
	names := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for f := range t.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			names[prefix+tag] = true
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
				walk(f.Type, prefix+tag+".")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return names
})

// caseErrors reports the keys that the decoder matched without regard
// to case ("Store", "[Relay]"): homepost's keys are lower case, and a
// key written otherwise is an unknown key, as in Postfix's main.cf.
func caseErrors(path string, data []byte, md toml.MetaData) []*Error {
	names := keyNames()
	var errs []*Error
	reported := map[string]bool{}
	for _, k := range md.Keys() {
		full := k.String()
		if names[full] {
			continue
		}
		skip := false
		for i := 1; i < len(k); i++ {
			if reported[strings.Join(k[:i], ".")] {
				skip = true
			}
		}
		if skip {
			continue
		}
		for n := range names {
			if strings.EqualFold(n, full) {
				reported[full] = true
				errs = append(errs, &Error{File: path, Line: keyLine(data, k), Key: full,
					Msg: fmt.Sprintf("unknown key: keys are case-sensitive; write %s", n)})
				break
			}
		}
	}
	return errs
}

// keyHint is what an unknown key's error adds when the key is a known
// one in the wrong place: a top-level key written below a table header
// belongs to that table in TOML, the commonest slip of the format.
func keyHint(data []byte, k toml.Key) string {
	names := keyNames()
	if len(k) == 2 && names[k[0]] && names[k[1]] {
		return fmt.Sprintf(": %s is a top-level key: move it above [%s] (line %d)", k[1], k[0], keyLine(data, k[:1]))
	}
	// A table's key written at the top or under another table.
	if len(k) <= 2 {
		for _, table := range []string{"relay", "smtp"} {
			if names[table+"."+k[len(k)-1]] && (len(k) == 1 || k[0] != table) {
				return fmt.Sprintf(": %s is a key of [%s]: write it below [%s]", k[len(k)-1], table, table)
			}
		}
	}
	return ""
}

// problemLine is the line to blame for a problem with key: the line that
// sets it, else, for a key that is missing (relay_domain, which
// other_users = "relay" needs; a password that relay.username needs),
// the line of the key that asks for it, else the line of its table.
func problemLine(data []byte, key string) int {
	if n := keyLine(data, strings.Split(key, ".")); n > 0 {
		return n
	}
	for _, other := range problemNeededBy[key] {
		if n := keyLine(data, strings.Split(other, ".")); n > 0 {
			return n
		}
	}
	if i := strings.LastIndexByte(key, '.'); i > 0 {
		return keyLine(data, strings.Split(key[:i], "."))
	}
	return 0
}

// problemNeededBy names, for a key whose absence is an error, the keys
// that need it.
var problemNeededBy = map[string][]string{
	"relay_domain":           {"other_users"},
	"relay.password_command": {"relay.username"},
	"relay.password":         {"relay.username"},
	"relay.username":         {"relay.password", "relay.password_command"},
}

// skipBOM returns data without a leading UTF-8 byte order mark.
func skipBOM(data []byte) []byte { return bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) }

// utf16BOM reports whether data starts with a UTF-16 byte order mark,
// as a file saved as "Unicode" by Windows' Notepad does.
func utf16BOM(data []byte) bool {
	return len(data) >= 2 && (data[0] == 0xff && data[1] == 0xfe || data[0] == 0xfe && data[1] == 0xff)
}

// oddCharacters names the characters that look like others, or like
// nothing, in an editor: the parser shows them in Go's quoting
// ('\u00a0'), which says nothing to most users.
var oddCharacters = map[rune]string{
	0x00a0: "a no-break space",
	0x2002: "an en space", 0x2003: "an em space", 0x2009: "a thin space", 0x202f: "a narrow no-break space", 0x3000: "an ideographic space",
	0x200b: "a zero-width space", 0x200c: "a zero-width non-joiner", 0x200d: "a zero-width joiner", 0x2060: "a word joiner",
	0xfeff: "a byte order mark", 0x00ad: "a soft hyphen",
	0x2018: "a typographic quote: write \" or '", 0x2019: "a typographic quote: write \" or '",
	0x201c: "a typographic quote: write \" or '", 0x201d: "a typographic quote: write \" or '",
	0x201e: "a typographic quote: write \" or '", 0x00ab: "a typographic quote: write \" or '", 0x00bb: "a typographic quote: write \" or '",
	0x2013: "an en dash: write -", 0x2014: "an em dash: write -", 0x2212: "a minus sign: write -",
}

// nameOddCharacter rewrites the parser's "got 'X' instead" and "found
// 'X' instead", where X is a character in Go's quoting, so that the
// character can be found: a backslash as '\', an invisible or
// look-alike character by its code point and name; and its "invalid
// UTF-8 byte: 0xff" so that it says what to do.
func nameOddCharacter(msg string) string {
	if b, ok := strings.CutPrefix(msg, "invalid UTF-8 byte: 0x"); ok {
		return "byte 0x" + strings.ToUpper(b) + ": not UTF-8 (save the file as UTF-8)"
	}
	end := strings.LastIndex(msg, "' instead")
	if end < 0 {
		return msg
	}
	start := -1
	for _, w := range []string{"got '", "found '"} {
		if i := strings.LastIndex(msg[:end], w); i >= 0 && i+len(w) > start {
			start = i + len(w)
		}
	}
	if start < 0 || start > end {
		return msg
	}
	s, err := strconv.Unquote("'" + msg[start:end] + "'")
	if err != nil {
		return msg
	}
	r := []rune(s)[0]
	var what string
	switch name, ok := oddCharacters[r]; {
	case ok:
		what = fmt.Sprintf("U+%04X (%s)", r, name)
	case r < 0x80 && unicode.IsPrint(r):
		what = "'" + string(r) + "'"
	case unicode.IsPrint(r):
		what = fmt.Sprintf("'%c' (U+%04X)", r, r)
	default:
		what = fmt.Sprintf("U+%04X", r)
	}
	return msg[:start-1] + what + msg[end+1:]
}
