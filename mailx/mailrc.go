package mailx

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
)

// settings are what start-up files and the set, alias, ignore and retain
// commands change.
//
// # File format
//
// A start-up file (/etc/mail.rc, then $MAILRC or ~/.mailrc) holds mail
// commands, one a line; '#' starts a comment line and a trailing '\'
// joins the next line. Words are split at blanks; '...' and "..." quote,
// '\' escapes one character. The commands honoured are:
//
//	set NAME | NAME=VALUE | noNAME ...   unset NAME ...
//	alias NAME ADDR ...   (also: a, group)   unalias NAME ...
//	alternates NAME ...   (the user's other names, left out of replies)
//	ignore FIELD ...   (also: discard)   retain FIELD ...
//	if r|s|t ... else ... endif   (reading, sending, terminal)
//
// A line that ends in '{' (s-nail's "account NAME {", "define NAME {")
// opens a block that is skipped, up to a line holding only '}'.
type settings struct {
	vars     map[string]string
	aliases  map[string][]string
	ignore   map[string]bool
	retain   map[string]bool
	userHead bool // ignore or retain was used: the default retain list is off
	// alternates are the user's other names (the alternates command),
	// left out of replies.
	alternates []string
}

// defaultRetain is shown by p and t when no ignore or retain command was
// given; P and T show every field.
var defaultRetain = []string{"date", "from", "to", "cc", "subject", "reply-to"}

func newSettings() *settings {
	return &settings{
		vars: map[string]string{
			// hold: read messages stay in the mailbox on quit (as
			// s-nail and BSD mail do with "hold" set); "unset hold"
			// moves them to ~/mbox as POSIX describes.
			"hold":   "",
			"asksub": "",
			"quote":  "",
			"escape": "~",
			// dot: a line with only "." ends a message typed at a
			// terminal, as BSD mail's mail.rc sets it; "set nodot"
			// makes it text, as in s-nail and POSIX's default.
			"dot": "",
		},
		aliases: map[string][]string{},
		ignore:  map[string]bool{},
		retain:  map[string]bool{},
	}
}

func (s *settings) isSet(name string) bool { _, ok := s.vars[name]; return ok }

func (s *settings) get(name string) string { return s.vars[name] }

// lineError is an error in a start-up file, reported as file:line.
type lineError struct {
	File string
	Line int
	Err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

// errUnknownCommand is returned by apply for a command a start-up file
// may not hold.
var errUnknownCommand = errors.New("unknown command")

// loadFile reads a start-up file; a missing file is not an error.
func (s *settings) loadFile(path string, mode byte, strict bool) []error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return []error{err}
	}
	defer f.Close()
	return s.parse(f, path, mode, strict)
}

// parse runs the commands of a start-up file. mode is 'r' (reading) or
// 's' (sending) for "if". Unknown commands are errors only when strict.
func (s *settings) parse(r io.Reader, name string, mode byte, strict bool) []error {
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	var cond []bool // stack of "if" results
	active := func() bool { return !slices.Contains(cond, false) }
	n, start := 0, 0
	var acc string
	// block is the line that opened a block being skipped (s-nail's
	// "account NAME {" and "define NAME {"), 0 when none: its lines run
	// only when the account or macro is called, which mail does not do,
	// so none of them is run at start-up (a "set from" in an account
	// would otherwise change the sender of all mail).
	var block int
	var blockName string
	for sc.Scan() {
		n++
		line := sc.Text()
		if acc == "" {
			start = n
		}
		if strings.HasSuffix(line, "\\") && !strings.HasSuffix(line, "\\\\") {
			acc += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, acc = acc+line, ""
		words, err := splitWords(line)
		if err != nil {
			errs = append(errs, &lineError{name, start, err})
			continue
		}
		if len(words) == 0 || strings.HasPrefix(words[0], "#") {
			continue
		}
		if block > 0 {
			if len(words) == 1 && words[0] == "}" {
				if strict {
					errs = append(errs, &lineError{name, block, fmt.Errorf("%s: skipped up to line %d: mail runs no s-nail accounts or macros, so none of its lines was obeyed", blockName, n)})
				}
				block = 0
			}
			continue
		}
		if len(words) >= 2 && words[len(words)-1] == "{" {
			block, blockName = start, strings.Join(words[:len(words)-1], " ")
			continue
		}
		switch words[0] {
		case "if":
			ok := false
			if len(words) > 1 {
				switch words[1] {
				case "r", "receive":
					ok = mode == 'r'
				case "s", "send":
					ok = mode == 's'
				case "t", "term":
					ok = isTerminal(0)
				}
			}
			cond = append(cond, ok)
			continue
		case "else":
			if len(cond) == 0 {
				errs = append(errs, &lineError{name, start, errors.New("else without if")})
			} else {
				cond[len(cond)-1] = !cond[len(cond)-1]
			}
			continue
		case "endif":
			if len(cond) == 0 {
				errs = append(errs, &lineError{name, start, errors.New("endif without if")})
			} else {
				cond = cond[:len(cond)-1]
			}
			continue
		}
		if !active() {
			continue
		}
		if err := s.apply(words); err != nil {
			if errors.Is(err, errUnknownCommand) && !strict {
				continue
			}
			errs = append(errs, &lineError{name, start, err})
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, &lineError{name, n, err})
	}
	if len(cond) > 0 {
		errs = append(errs, &lineError{name, n, errors.New("if without endif")})
	}
	if block > 0 {
		errs = append(errs, &lineError{name, block, fmt.Errorf("%s: no closing '}': the rest of the file was skipped", blockName)})
	}
	return errs
}

// apply runs one settings command given as words.
func (s *settings) apply(words []string) error {
	args := words[1:]
	switch words[0] {
	case "set", "se":
		for _, a := range args {
			k, v, hasV := strings.Cut(a, "=")
			if k == "" {
				return fmt.Errorf("set: bad variable %q", a)
			}
			if strings.HasPrefix(k, "no") && !hasV && len(k) > 2 {
				delete(s.vars, k[2:])
				continue
			}
			s.vars[k] = v
		}
	case "unset", "uns":
		for _, a := range args {
			delete(s.vars, a)
		}
	case "alias", "a", "group", "g":
		if len(args) < 2 {
			return fmt.Errorf("%s: want a name and addresses", words[0])
		}
		s.aliases[args[0]] = append(s.aliases[args[0]], args[1:]...)
	case "alternates", "alt":
		// Without names it lists them, which the session does; a
		// start-up file has nothing to list to.
		if len(args) > 0 {
			s.alternates = slices.Clone(args)
		}
	case "unalias":
		for _, a := range args {
			delete(s.aliases, a)
		}
	case "ignore", "discard", "ig", "di":
		s.userHead = true
		for _, a := range args {
			s.ignore[strings.ToLower(a)] = true
		}
	case "retain", "ret":
		s.userHead = true
		for _, a := range args {
			s.retain[strings.ToLower(a)] = true
		}
	default:
		return fmt.Errorf("%w %q", errUnknownCommand, words[0])
	}
	return nil
}

// shown reports whether p and t show a header field.
func (s *settings) shown(field string) bool {
	f := strings.ToLower(field)
	if !s.userHead {
		return slices.Contains(defaultRetain, f)
	}
	if len(s.retain) > 0 {
		return s.retain[f]
	}
	return !s.ignore[f]
}

// expandAliases replaces alias names by their addresses, recursively
// (an alias may name another), each address once.
func (s *settings) expandAliases(list []string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(a string, depth int)
	walk = func(a string, depth int) {
		if v, ok := s.aliases[a]; ok && depth < 16 {
			for _, x := range v {
				walk(x, depth+1)
			}
			return
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, a := range list {
		walk(a, 0)
	}
	return out
}

// sortedVars lists the variables for "set" without arguments.
func (s *settings) sortedVars() []string {
	var out []string
	for k, v := range s.vars {
		if v == "" {
			out = append(out, k)
		} else {
			out = append(out, fmt.Sprintf("%s=%q", k, v))
		}
	}
	sort.Strings(out)
	return out
}

// splitWords splits a command line into words with shell-like quoting.
func splitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
				i++
				cur.WriteByte(line[i])
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
