package mailx

import (
	"bufio"
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestHelpAgreesWithManPage checks that every option --help lists is
// documented in man/mail.1 and the other way round.
func TestHelpAgreesWithManPage(t *testing.T) {
	page, err := os.ReadFile("../man/mail.1")
	if err != nil {
		t.Fatal(err)
	}
	manOpts := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\.It Fl (\S+)`).FindAllStringSubmatch(string(page), -1) {
		manOpts[m[1]] = true
	}
	helpOpts := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -(\S+)`).FindAllStringSubmatch(UsageText, -1) {
		helpOpts[m[1]] = true
	}
	for o := range helpOpts {
		if !manOpts[o] {
			t.Errorf("--help lists -%s, man/mail.1 does not", o)
		}
	}
	for o := range manOpts {
		if !helpOpts[o] && o != "-help" {
			t.Errorf("man/mail.1 documents -%s, --help does not", o)
		}
	}
	for _, c := range needArg {
		if strings.ContainsRune("sbcrau", c) && !helpOpts[string(c)] {
			t.Errorf("option -%c takes an argument but is not in --help", c)
		}
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-nN", `-sHello world`, "-c", "a@b", "root", "-b", "x@y", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.noSysRC || !o.noHeaders || o.subject != "Hello world" || !slices.Equal(o.cc, []string{"a@b"}) ||
		!slices.Equal(o.bcc, []string{"x@y"}) || !slices.Equal(o.operands, []string{"root", "bob"}) {
		t.Errorf("%+v", o)
	}
	o, err = parseOptions([]string{"-f", "box", "-H"})
	if err != nil || !o.file || !o.headers || !slices.Equal(o.operands, []string{"box"}) {
		t.Errorf("%+v %v", o, err)
	}
	if _, err := parseOptions([]string{"-s"}); err == nil {
		t.Error("-s without argument accepted")
	}
	o, _ = parseOptions([]string{"--", "-notanoption"})
	if !slices.Equal(o.operands, []string{"-notanoption"}) {
		t.Errorf("after --: %q", o.operands)
	}
}

// msgWith is a message summarized from the header fields given, as a
// scan of a mailbox makes it.
func msgWith(num int, from, subject, date string) *Msg {
	m := &Msg{Num: int32(num)}
	var h hscan
	h.reset()
	for _, f := range [][2]string{{"From", from}, {"Subject", subject}, {"Date", date}} {
		if f[1] != "" {
			h.line([]byte(f[0] + ": " + f[1] + "\n"))
		}
	}
	m.sum = string(h.summarize(m, nil, ""))
	return m
}

func testBox(n int) selector {
	var msgs []*Msg
	for i := 1; i <= n; i++ {
		m := msgWith(i, "User <user"+string(rune('0'+i%10))+"@example.org>", "Subject "+string(rune('A'+i-1)), "")
		msgs = append(msgs, m)
	}
	return selector{msgs: msgs, dot: 1}
}

func TestMessageLists(t *testing.T) {
	s := testBox(6)
	s.msgs[2].flags |= fDeleted
	s.msgs[3].flags |= fRead
	s.msgs[4].flags |= fNew
	for _, c := range []struct {
		arg  string
		mode listMode
		want []int
		err  bool
	}{
		{"", undeletedOnly, []int{1}, false},
		{"1", undeletedOnly, []int{0}, false},
		{"1-4", undeletedOnly, []int{0, 1, 3}, false},
		{"3", undeletedOnly, nil, true},
		{"*", undeletedOnly, []int{0, 1, 3, 4, 5}, false},
		{"$", undeletedOnly, []int{5}, false},
		{"^ .", undeletedOnly, []int{0, 1}, false},
		{"+", undeletedOnly, []int{3}, false},
		{"-", undeletedOnly, []int{0}, false},
		{":d", undeletedOnly, []int{2}, false},
		{":r", undeletedOnly, []int{3}, false},
		{":n", undeletedOnly, []int{4}, false},
		{"/xyz", undeletedOnly, nil, true},
		{"/subject", undeletedOnly, []int{0, 1, 3, 4, 5}, false},
		{"/JECT", undeletedOnly, []int{0, 1, 3, 4, 5}, false},
		{"user5", undeletedOnly, []int{4}, false},
		{"", deletedOnly, []int{2}, false},
		{"7", undeletedOnly, nil, true},
		{"0", undeletedOnly, nil, true},
		{"4-2", undeletedOnly, nil, true},
		{":x", undeletedOnly, nil, true},
		{"2 1 2", undeletedOnly, []int{0, 1}, false},
	} {
		got, err := s.resolve(c.arg, c.mode)
		if (err != nil) != c.err || !slices.Equal(got, c.want) {
			t.Errorf("%q: got %v, %v; want %v (error %v)", c.arg, got, err, c.want, c.err)
		}
	}
}

func TestCommandAbbreviations(t *testing.T) {
	for abbr, want := range map[string]string{
		"p": "print", "t": "type", "P": "Print", "T": "Type", "n": "next", "h": "headers", "f": "from",
		"d": "delete", "u": "undelete", "r": "reply", "R": "Reply", "m": "mail", "s": "save", "w": "write",
		"c": "copy", "q": "quit", "x": "xit", "ex": "exit", "pre": "preserve", "ho": "hold", "mb": "mbox",
		"fo": "folder", "fi": "file", "z": "z", "dp": "dp", "si": "size", "to": "top", "": "next", "=": "=", "?": "?",
		"e": "edit", "v": "visual", "ec": "echo", "ve": "version", "in": "inc", "newm": "newmail", "new": "new",
		"foll": "followup", "F": "Followup", "alt": "alternates", "al": "alias",
	} {
		c := lookupCommand(abbr)
		if c == nil || c.name != want {
			t.Errorf("%q resolves to %v, want %s", abbr, c, want)
		}
	}
	if lookupCommand("nosuchcommand") != nil {
		t.Error("unknown command resolved")
	}
	for line, want := range map[string][2]string{
		"p 1-3":   {"p", " 1-3"},
		"3":       {"", "3"},
		"!ls -l":  {"!", "ls -l"},
		"s3 file": {"s", "3 file"},
		"-":       {"-", ""},
	} {
		n, a := splitCommand(line)
		if n != want[0] || a != want[1] {
			t.Errorf("splitCommand(%q) = %q, %q", line, n, a)
		}
	}
}

func TestMailrcParse(t *testing.T) {
	s := newSettings()
	rc := `# comment
set crt=20 record="+sent mail" noasksub
unset hold
alias team alice@example.org \
  bob@example.org
if s
set sendonly
else
set readonly
endif
retain From Subject
bogus
set "unterminated
`
	errs := s.parse(strings.NewReader(rc), "rc", 'r', true)
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "rc:12:") || !strings.Contains(errs[1].Error(), "rc:13:") {
		t.Errorf("errors: %v", errs)
	}
	if s.get("crt") != "20" || s.get("record") != "+sent mail" || s.isSet("asksub") || s.isSet("hold") {
		t.Errorf("vars: %v", s.vars)
	}
	if !slices.Equal(s.aliases["team"], []string{"alice@example.org", "bob@example.org"}) {
		t.Errorf("alias: %q", s.aliases["team"])
	}
	if s.isSet("sendonly") || !s.isSet("readonly") {
		t.Errorf("if/else: %v", s.vars)
	}
	if !s.shown("subject") || s.shown("to") {
		t.Errorf("retain")
	}
}

func TestScanMbox(t *testing.T) {
	in := "From a@b Sat Jan  2 08:50:00 2021\nSubject: one\nStatus: RO\n\nbody\n>From quoted\n\n" +
		"From c@d Sat Jan  2 08:51:00 2021\r\nFrom: C <c@d>\r\nSubject: two\r\n  folded\r\n\r\nline\r\nFrom not a separator (no blank line before)\r\n\r\n" +
		"From e@f Sat Jan  2 08:52:00 2021\nSubject: three\n\nno final newline"
	msgs, size, err := scanMbox(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(in)) || len(msgs) != 3 {
		t.Fatalf("size %d, %d messages", size, len(msgs))
	}
	if msgs[0].subject() != "one" || msgs[0].status() != "RO" || msgs[1].subject() != "two folded" || msgs[1].from() != "C <c@d>" || msgs[2].subject() != "three" {
		t.Errorf("fields: %+v %+v %+v", msgs[0], msgs[1], msgs[2])
	}
	for i, m := range msgs {
		text := in[m.Off : m.Off+m.Size]
		if !strings.HasPrefix(text, "From ") || strings.HasSuffix(text, "\n\n") || strings.HasSuffix(text, "\r\n\r\n") {
			t.Errorf("message %d spans %q", i+1, text)
		}
	}
	if _, _, err := scanMbox(strings.NewReader("Subject: not an mbox\n")); err == nil {
		t.Error("a file without a From line was accepted")
	}
	if msgs, _, err := scanMbox(strings.NewReader("\n\n")); err != nil || len(msgs) != 0 {
		t.Errorf("blank file: %v %v", msgs, err)
	}
}

func TestHeaderLine(t *testing.T) {
	m := msgWith(1, "=?utf-8?q?J=C3=B6rg?= <jorg@example.org>", "=?iso-8859-1?q?caf=E9?= \x1b[31mred", "Sat, 2 Jan 2021 08:50:00 +0000")
	m.Lines, m.Size, m.flags = 11, 312, fNew
	got := headerLine(m, true, 200)
	if !strings.HasPrefix(got, ">N  1 jorg@example.org  ") || !strings.Contains(got, "  11/312   café ?[31mred") {
		t.Errorf("%q", got)
	}
	if strings.ContainsRune(got, 0x1b) {
		t.Error("escape character reaches the terminal")
	}
}

func TestScanMaildirOddEntries(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"new", "cur", "tmp", "cur/subdir"} {
		os.MkdirAll(dir+"/"+d, 0o700)
	}
	os.WriteFile(dir+"/cur/.hidden", []byte("Subject: no\n\n"), 0o600)
	os.WriteFile(dir+"/cur/2.b:2,S", []byte("Subject: two\n\nbody\n"), 0o600)
	os.WriteFile(dir+"/new/10.a", []byte("\x00\xff garbage with no header"), 0o600)
	os.WriteFile(dir+"/new/1.c", nil, 0o600)
	os.WriteFile(dir+"/tmp/0.t", []byte("Subject: in tmp\n\n"), 0o600)
	msgs, _, err := scanMaildir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.entry().Key()+"|"+m.subject())
	}
	want := []string{"1.c|", "2.b|two", "10.a|"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(msgs) == 3 && (!msgs[1].has(fSeen) || msgs[1].entry().Info() != "S" || !msgs[2].has(fNew) || msgs[1].Lines != 3) {
		t.Errorf("flags: %+v %+v", msgs[1], msgs[2])
	}
}

func TestFoldHeader(t *testing.T) {
	long := "Subject: " + strings.Repeat("=?utf-8?q?abcdefghij?= ", 10) + "end\n"
	in := "To: root\n" + long + "X-Unbreakable: " + strings.Repeat("x", 100) + "\n\n"
	out := string(foldHeader([]byte(in)))
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 79 && !strings.HasPrefix(l, "X-Unbreakable: ") {
			t.Errorf("line of %d characters: %q", len(l), l)
		}
	}
	unfolded := strings.ReplaceAll(out, "\n ", " ")
	if unfolded != in {
		t.Errorf("unfolding does not give back the input:\n%q\n%q", unfolded, in)
	}
}

func TestMaildirMessageMovedByAnotherClient(t *testing.T) {
	dir := t.TempDir()
	deliverFixtures(t, dir, 1)
	box, err := openBox("maildir", dir, false)
	if err != nil || len(box.Msgs) != 1 {
		t.Fatal(err)
	}
	m := box.Msgs[0]
	moved := dir + "/cur/" + m.entry().Key() + ":2,FS"
	if err := os.Rename(box.path(m), moved); err != nil {
		t.Fatal(err)
	}
	raw, err := box.Raw(m)
	if err != nil || !strings.Contains(string(raw), "Subject 1") || box.path(m) != moved || m.entry().Info() != "FS" {
		t.Errorf("%v %q %q", err, box.path(m), m.entry().Info())
	}
}

func TestHeaderLineWideCharacters(t *testing.T) {
	m := msgWith(7, "=?utf-8?b?5bGx55Sw?= <山田@example.jp>", "=?utf-8?b?5pel5pys6Kqe44Gu5Lu25ZCN44Gn44GZ44CC6ZW344GE5Lu25ZCN44Gn44GZ44CC?=", "")
	m.Size, m.Lines = 10, 1
	got := headerLine(m, false, 60)
	if c := columns([]byte(got)); c > 59 {
		t.Errorf("%q takes %d columns", got, c)
	}
	if !strings.HasPrefix(got, " U  7 山田@example.jp        Mon") && !strings.Contains(got, "山田@example.jp      ") {
		t.Errorf("%q", got)
	}
}

// TestCommandsDocumented checks that every command of the table is named
// in the COMMANDS section of man/mail.1, and that the help listing shows
// every command that is not another's other name.
func TestCommandsDocumented(t *testing.T) {
	page, err := os.ReadFile("../man/mail.1")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(page)
	start := strings.Index(sec, "\n.Sh COMMANDS\n")
	if start < 0 {
		t.Fatal("man/mail.1 has no COMMANDS section")
	}
	sec = sec[start+1:]
	if end := strings.Index(sec[1:], "\n.Sh "); end >= 0 {
		sec = sec[:end+1]
	}
	named := map[string]bool{}
	for _, line := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(line, ".It ") && !strings.HasPrefix(line, ".Ic ") {
			continue
		}
		for _, w := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == ',' }) {
			named[strings.TrimPrefix(w, `\&`)] = true
		}
	}
	var help bytes.Buffer
	s := &session{env: &env{set: newSettings(), out: bufio.NewWriter(&help)}}
	s.cmdHelp("")
	s.out.Flush()
	for _, c := range commands {
		if !named[c.name] {
			t.Errorf("command %q is not in the COMMANDS section of man/mail.1", c.name)
		}
		if !strings.Contains(c.help, "same as") && !strings.Contains(help.String(), "\n  "+c.name+" ") {
			t.Errorf("command %q is not in the help listing", c.name)
		}
	}
}

// A comma inside quotes, after an escaped quote too, does not split an
// address list.
func TestAddList(t *testing.T) {
	got := addList(nil, `"Doe \", J" <j@example.org>, b@example.org, <c,d@x>`)
	want := []string{`"Doe \", J" <j@example.org>`, "b@example.org", "<c,d@x>"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("addList = %q, want %q", got, want)
	}
}
