package forwarder

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseReader(t *testing.T) {
	in := `# Debian's /etc/aliases
mailer-daemon: postmaster
postmaster: root

  # indented comment, ignored
Root: alice,
	bob@example.org,
  "|/usr/bin/logger -t mail, ok"
"Quoted Name": carol
list: :include:/etc/mail/list, \alice, /var/mail/x, ~/Mail/inbox/
named: Alice Example <alice@example.org>
`
	list, errs := parseReader(strings.NewReader(in), "aliases")
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	got := map[string][]string{}
	lines := map[string][]int{}
	for _, a := range list {
		for _, v := range a.values {
			got[a.name] = append(got[a.name], v.text)
			lines[a.name] = append(lines[a.name], v.line)
		}
	}
	want := map[string][]string{
		"mailer-daemon": {"postmaster"},
		"postmaster":    {"root"},
		"root":          {"alice", "bob@example.org", "|/usr/bin/logger -t mail, ok"},
		"quoted name":   {"carol"},
		"list":          {":include:/etc/mail/list", `\alice`, "/var/mail/x", "~/Mail/inbox/"},
		"named":         {"alice@example.org"},
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d aliases, want %d: %q", len(got), len(want), got)
	}
	if !slices.Equal(lines["root"], []int{6, 7, 8}) {
		t.Errorf("root's values on lines %v, want [6 7 8]", lines["root"])
	}
	if list[2].line != 6 || list[2].rhs != `alice, bob@example.org, "|/usr/bin/logger -t mail, ok"` {
		t.Errorf("root: line %d rhs %q", list[2].line, list[2].rhs)
	}
}

func TestParseReaderErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"  continued: x\n", "a:1: continuation line without an alias before it"},
		{"ok: x\nno colon here\n", "a:2: missing ':'"},
		{"two words: x\n", `a:1: alias name "two words" contains blank space`},
		{"x@example.org: y\n", "only a local part can be aliased"},
		{"x:\n", `a:1: alias "x" has no value`},
		{"x: \"|cmd\n", "a:1: unterminated quote"},
		{"x: :include:\n", "a:1: :include: without a file name"},
		{"x: :include:relative\n", "the file name must be absolute"},
		{"x: |\n", "a:1: empty command"},
		{"x: user name\n", "contains blank space"},
		{"x: ~bob/file\n", "only ~/"},
		{"x: :fail: no\n", "only :include: is supported"},
		{"x: a\x00b\n", "control character"},
		{"x: a\ny: b\nx: c\n", "a:3: warning: duplicate alias \"x\" ignored (first defined at line 1)"},
		{"x: y,\n  z,\n  \"bad\n", "a:3: unterminated quote"},
		{"\"x: y\n", "a:1: unterminated quote in alias name"},
	} {
		_, errs := parseReader(strings.NewReader(tc.in), "a")
		if len(errs) == 0 {
			t.Errorf("%q: no error, want %q", tc.in, tc.want)
			continue
		}
		if msg := errs[0].Error(); !strings.Contains(msg, tc.want) {
			t.Errorf("%q: error %q, want %q", tc.in, msg, tc.want)
		}
	}
}

// Every bad line is reported, and the good ones still count.
func TestParseReaderKeepsGoing(t *testing.T) {
	in := "a: b\nbad line\nc: d\nx y: z\ne: f, g h, i\n"
	list, errs := parseReader(strings.NewReader(in), "f")
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	if len(errs) != 3 || !strings.HasPrefix(msgs[0], "f:2:") || !strings.HasPrefix(msgs[1], "f:4:") || !strings.HasPrefix(msgs[2], "f:5:") {
		t.Errorf("errors %q", msgs)
	}
	var names []string
	for _, a := range list {
		names = append(names, fmt.Sprintf("%s=%d", a.name, len(a.values)))
	}
	if !slices.Equal(names, []string{"a=1", "c=1", "e=2"}) {
		t.Errorf("entries %v", names)
	}
}

func TestParseForward(t *testing.T) {
	in := "# my forwarding\n\\alice, bob@example.org\n|\"/usr/bin/procmail -f-\"\n  ~/mbox\n\n~/Maildir/, :include:~/list\n"
	vals, _, errs := parseForward(strings.NewReader(in), ".forward")
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, v := range vals {
		got = append(got, fmt.Sprintf("%d:%s", v.line, v.text))
	}
	want := []string{`2:\alice`, "2:bob@example.org", "3:|/usr/bin/procmail -f-", "4:~/mbox", "6:~/Maildir/", "6::include:~/list"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	vals, _, errs = parseForward(strings.NewReader("\n# nothing\n"), "f")
	if len(vals) != 0 || len(errs) != 0 {
		t.Errorf("empty file: %v %v", vals, errs)
	}
	_, _, errs = parseForward(strings.NewReader("ok\nnot an address\n"), "f")
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "f:2: ") {
		t.Errorf("errors %v", errs)
	}
}

// FuzzParseReader: never panic; every error names the file and a line
// that exists; every entry has a lowercased name and a line that exists.
func FuzzParseReader(f *testing.F) {
	for _, s := range []string{
		"root: alice\n",
		"a: b,\n  c\n#x\nd: \"|cmd, x\"\n",
		"\"q n\": :include:/x, \\u, /f, /d/\n",
		"  x\n:\n\"\n",
		"a: \"b\\\"c\"\n",
		"a: |/usr/bin/procmail -a \"two words\", \\a\n",
		"a: |sh -c 'x, y' \"it's\"\n  , b\n",
		"a: |\"cmd args\"\n",
		"a: |cmd 'open\n",
		"\ufeffa: \"a,b\"@x.org, \"two words\", \"q\\\"\"@y\r\n",
		"a: :INCLUDE:/x, :Include:~/y\n",
		"a: x@y.org # comment\n",
		"a: x@y.org (c (nested) \\) x), b @ c.org, (only)\n  d@e (open\n",
		"team: a@test.invalid,\nb@test.invalid\n",
		"a: b,\n\n# c\nx y,\nz\n  w\nn: m,\n\"q\nd: e,\nf: g\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		list, errs := parseReader(strings.NewReader(in), "F")
		lines := strings.Count(in, "\n") + 1
		for _, e := range errs {
			pe, ok := e.(*ParseError)
			if !ok || pe.File != "F" || pe.Line < 1 || pe.Line > lines {
				t.Fatalf("bad error %v (lines %d)", e, lines)
			}
		}
		for _, a := range list {
			if a.name == "" || a.name != strings.ToLower(a.name) || a.line < 1 || a.line > lines {
				t.Fatalf("bad entry %+v", a)
			}
			for _, v := range a.values {
				if v.text == "" || v.line < a.line || v.line > lines {
					t.Fatalf("bad value %+v in %+v", v, a)
				}
			}
			// A value that cannot be read, a line after a value
			// ending with ',' included, is kept with its line.
			for _, b := range a.bad {
				if b.line < a.line || b.line > lines || b.why == "" {
					t.Fatalf("bad unreadable value %+v in %+v", b, a)
				}
			}
		}
	})
}

// FuzzParseForward: never panic, errors carry real line numbers, values
// are never empty.
func FuzzParseForward(f *testing.F) {
	for _, s := range []string{
		"alice@example.org\n",
		"\\me, |\"cmd -x\"\n~/mbox\n",
		"# c\n\n:include:/x\n",
		"\"",
		"|/usr/bin/procmail -a \"two words\"\n",
		"|/bin/sh -c \"cat >> $HOME/log\"\n",
		"|cmd a\\,b, |\"q r\", |sh -c 'a, b'\n",
		"|echo don't\n",
		"| \"x\\",
		"\ufeff\"john doe\"@example.org, \"a@b\", \"\"@x\r\n",
		":INCLUDE:/x\n\"Joe B\" <joe@example.org>",
		"x@y.org (work), \\me (copy), \"a b\"@c (d), /f(g), |h (i\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		vals, _, errs := parseForward(strings.NewReader(in), "F")
		lines := strings.Count(in, "\n") + 1
		for _, e := range errs {
			pe, ok := e.(*ParseError)
			if !ok || pe.Line < 1 || pe.Line > lines {
				t.Fatalf("bad error %v", e)
			}
		}
		for _, v := range vals {
			if v.text == "" || v.line < 1 || v.line > lines || strings.ContainsAny(v.text, "\n\r\x00") || strings.HasPrefix(v.text, byteOrderMark) {
				t.Fatalf("bad value %+v", v)
			}
		}
	})
}

// An unquoted |command is kept as written, for /bin/sh: its quotes and
// backslashes are the shell's, and protect a comma. "|cmd args" and
// |"cmd args" are the command inside the quotes.
func TestCommandValues(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`|/usr/bin/procmail -a "two words"`, []string{`|/usr/bin/procmail -a "two words"`}},
		{`|/bin/sh -c "cat >> $HOME/log"`, []string{`|/bin/sh -c "cat >> $HOME/log"`}},
		{`|cmd "a, b", \me`, []string{`|cmd "a, b"`, `\me`}},
		{`|cmd a\,b, x@example.org`, []string{`|cmd a\,b`, "x@example.org"}},
		{`|cmd "say \"hi, there\"" , bob`, []string{`|cmd "say \"hi, there\""`, "bob"}},
		{`|exec /usr/bin/procmail || exit 75 #alice`, []string{`|exec /usr/bin/procmail || exit 75 #alice`}},
		{`"|/usr/bin/vacation -a allman eric"`, []string{"|/usr/bin/vacation -a allman eric"}},
		{`"|cmd \"x y\""`, []string{`|cmd "x y"`}},
		{`|"/usr/bin/procmail -f-"`, []string{"|/usr/bin/procmail -f-"}},
		{`| "cmd a\"b"`, []string{`|cmd a"b`}},
		{`|"/usr/bin/procmail" -f-`, []string{`|"/usr/bin/procmail" -f-`}},
		{`\me, |cmd 'single, quoted' "it's", x`, []string{`\me`, `|cmd 'single, quoted' "it's"`, "x"}},
		{`|/bin/sh -c 'cat >> "$HOME/a b"; echo \'`, []string{`|/bin/sh -c 'cat >> "$HOME/a b"; echo \'`}},
	} {
		vals, _, errs := parseForward(strings.NewReader(tc.in+"\n"), "f")
		var got []string
		for _, v := range vals {
			got = append(got, v.text)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q (errors %v)", tc.in, got, tc.want, errs)
		}
		list, _ := parseReader(strings.NewReader("a: "+tc.in+"\n"), "aliases")
		got = nil
		for _, a := range list {
			for _, v := range a.values {
				got = append(got, v.text)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("a: %s: got %q, want %q", tc.in, got, tc.want)
		}
	}
	// A quote left open is an error naming the line, not a command.
	for _, open := range []string{`|cmd "open`, `|cmd 'open, x`, `|echo don't`} {
		_, bad, errs := parseForward(strings.NewReader("ok@example.org\n"+open+"\n"), "f")
		if len(bad) != 1 || len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "f:2: unterminated quote") {
			t.Errorf("%s: bad %v errs %v", open, bad, errs)
		}
	}
}

// FuzzCommandAsWritten: an unquoted |command without a comma reaches
// the courier byte for byte as written (or is refused for an open
// quote), unless it is the |"cmd args" form.
func FuzzCommandAsWritten(f *testing.F) {
	for _, s := range []string{
		`/usr/bin/procmail -a "two words"`,
		`/bin/sh -c "cat >> $HOME/log"`,
		`exec /usr/bin/procmail || exit 75 #alice`,
		`/bin/sh -c 'echo "\'x'`,
		`cmd a\"b 'c d' "e \" f"`,
		`"/usr/bin/procmail -f-"`,
		`cmd "open`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		if strings.ContainsAny(cmd, ",\n") || hasControl(cmd) || strings.TrimSpace(cmd) == "" {
			return
		}
		line := "|" + cmd
		vals, bad, _ := parseForward(strings.NewReader(line+"\n"), "F")
		if strings.HasPrefix(strings.TrimSpace(cmd), `"`) {
			return // |"cmd args": the command inside the quotes
		}
		switch {
		case len(vals) == 1 && len(bad) == 0:
			if want := strings.TrimSpace(line); vals[0].text != want {
				t.Fatalf("%q became %q", want, vals[0].text)
			}
		case len(vals) == 0 && len(bad) == 1:
			if !strings.Contains(bad[0].why, "unterminated quote") {
				t.Fatalf("%q refused: %s", line, bad[0].why)
			}
		default:
			t.Fatalf("%q: values %v, bad %v", line, vals, bad)
		}
	})
}
