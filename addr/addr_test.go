package addr

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseList(t *testing.T) {
	for in, want := range map[string][]string{
		"root":       {"root"},
		"a@b, c@d":   {"a@b", "c@d"},
		"Name <x@y>": {"x@y"},
		// A source route is dropped, as Postfix and sendmail do.
		"<@relay.example:a@example.com>": {"a@example.com"},
		"Joe <@r1,@r2:j@x.org>, b@y":     {"j@x.org", "b@y"},
		"undisclosed-recipients:;":       nil,
		"sloppy <a@b>, c, (c) d@e":       {"a@b", "c", "d@e"},
		"=?utf-8?q?J=C3=B6rg?= <j@x>":    {"j@x"},
	} {
		got, err := ParseList(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseList(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"a b@c", "x@y\nBcc: z", "<unterminated", "address@@x", "a@b@c", "Name <a@@b>"} {
		if got, err := ParseList(bad); err == nil {
			t.Errorf("ParseList(%q) = %v, want an error", bad, got)
		}
	}
}

// An address that is not UTF-8 is refused where it is given (RFC 6532
// allows 8-bit bytes in an address as UTF-8 only): a smarthost would
// refuse it, and its bounce would show U+FFFD instead of what was sent.
// A display name or a comment that is not UTF-8 is header text, not the
// address: the address in it is read.
func TestParseInvalidUTF8(t *testing.T) {
	for _, bad := range []string{"\xff\xfe@test.invalid", "<\xff\xfe@test.invalid>", "Name <j\xf6rg@example.org>",
		"\"\xff\"@example.org", "a@b\xe9.example", "good@example.org, \xff@example.org", "root\xff", "\xed\xa0\x80@example.org"} {
		if got, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %q, want an error", bad, got)
		}
		if got, err := ParseList(bad); err == nil {
			t.Errorf("ParseList(%q) = %q, want an error", bad, got)
		}
	}
	if got, bad := ParseListEach("good@example.org, \xff@example.org"); !slices.Equal(got, []string{"good@example.org"}) || len(bad) != 1 {
		t.Errorf("ParseListEach = %q, %v; want the good address and one error", got, bad)
	}
	for in, want := range map[string]string{
		"J\xf6rg <joerg@example.org>":           "joerg@example.org",
		"joerg@example.org (J\xf6rg)":           "joerg@example.org",
		"J\xc3\xb6rg <j\xc3\xb6rg@example.org>": "j\xc3\xb6rg@example.org",
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzParseList: an address list from a -t header or a command line
// never panics the parser, and every address it returns is one address:
// no line break or control character (which would inject header fields
// into a trace header or an SMTP command), not empty, no unquoted white
// space or comma, valid UTF-8.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{
		"root", "a@b, c@d", `"Q, R" <q@remote.example>`, "group: a@x, b@y;", "undisclosed-recipients:;",
		"Someone <far@remote.example>,\n\tundisclosed: ;", "x@y\nBcc: z", "<unterminated", "root@localhost (Cron Daemon)",
		"=?utf-8?q?J=C3=B6rg?= <j@x>", `"a b"@example.org`, "a@b;c@d", "Smith, John <root>", "(comment) <a@b>",
		"\xff\xfe@test.invalid", "J\xf6rg <j@x>, \"\xe9\"@x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		each, bad := ParseListEach(s)
		for _, a := range each {
			if a == "" || strings.ContainsAny(a, "\r\n\x00") || !utf8.ValidString(a) {
				t.Fatalf("ParseListEach(%q) returned %q", s, each)
			}
		}
		list, err := ParseList(s)
		if (err == nil) != (len(bad) == 0) {
			t.Fatalf("ParseList(%q) error %v, ParseListEach errors %v", s, err, bad)
		}
		if err != nil {
			return
		}
		if strings.Join(each, "\n") != strings.Join(list, "\n") {
			t.Fatalf("ParseListEach(%q) = %q, ParseList %q", s, each, list)
		}
		for _, a := range list {
			if a == "" {
				t.Fatalf("ParseList(%q) returned an empty address: %q", s, list)
			}
			if strings.ContainsAny(a, "\r\n\x00") {
				t.Fatalf("ParseList(%q) returned %q with a line break or NUL", s, a)
			}
			if strings.HasPrefix(a, "-") {
				continue // an option-like address is refused where it matters (exec: relay)
			}
			quoted := false
			for i := 0; i < len(a); i++ {
				switch c := a[i]; {
				case c == '"':
					quoted = !quoted
				case c == '\\' && quoted:
					i++
				case !quoted && (c == ' ' || c == '\t' || c == ',' || c == '<' || c == '>'):
					t.Fatalf("ParseList(%q) returned %q, which is not one address", s, a)
				}
			}
		}
	})
}

// A quoted local part stays quoted: "a b"@example.org is one address
// (RFC 5321 4.1.2), and a b@example.org is not.
func TestQuotedLocalPartKept(t *testing.T) {
	for in, want := range map[string]string{
		`"a b"@example.org`:             `"a b"@example.org`,
		`Name <"a,b"@example.org>`:      `"a,b"@example.org`,
		`"a\"b"@example.org`:            `"a\"b"@example.org`,
		`"plain"@example.org`:           `plain@example.org`,
		`first.last@example.org`:        `first.last@example.org`,
		`Jörg <jörg@example.org>`:       `jörg@example.org`,
		`"<x>"@example.org, b@example`:  `"<x>"@example.org`,
		`"x@evil.example"@good.example`: `"x@evil.example"@good.example`,
	} {
		got, err := ParseList(in)
		if err != nil || len(got) == 0 || got[0] != want {
			t.Errorf("ParseList(%q) = %q, %v; want %q first", in, got, err, want)
		}
	}
}

// A backslash in quotes escapes the next byte, a quote too: what follows
// a quote so escaped is still inside the quotes, and what follows the
// real closing quote is not (found by FuzzParseList).
func TestQuotedPairInAddress(t *testing.T) {
	for _, bad := range []string{`"000\"0000" 0`, `"a\"b" c@example.org`, `x ("a\)" y) z`} {
		if got, err := ParseList(bad); err == nil {
			t.Errorf("ParseList(%q) = %q, want an error", bad, got)
		}
	}
	for in, want := range map[string]string{
		`"a\" b"@example.org`:          `"a\" b"@example.org`,
		`x@example.org (a \) comment)`: `x@example.org`,
	} {
		if got, err := ParseList(in); err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("ParseList(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range [][3]string{
		{"", "a@b", "a@b"},
		{"Ann Example", "ann@example.org", `"Ann Example" <ann@example.org>`},
		{"Jörg", "j@x", "=?utf-8?q?J=C3=B6rg?= <j@x>"},
		{"Cron Daemon", "root", `"Cron Daemon" <root>`},
	} {
		if got := Format(c[0], c[1]); got != c[2] {
			t.Errorf("Format(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

func TestSplitAndQualify(t *testing.T) {
	if l, d, ok := Split(`"a@b"@example.org`); l != `"a@b"` || d != "example.org" || !ok {
		t.Errorf("Split = %q, %q, %v", l, d, ok)
	}
	if l, d, ok := Split("root"); l != "root" || d != "" || ok {
		t.Errorf("Split(root) = %q, %q, %v", l, d, ok)
	}
	for in, want := range map[string]string{"root": "root@host.example", "a@b": "a@b", "": ""} {
		if got := Qualify(in, "host.example"); got != want {
			t.Errorf("Qualify(%q) = %q, want %q", in, got, want)
		}
	}
}
