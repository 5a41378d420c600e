package mailx

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

func FuzzMessageList(f *testing.F) {
	for _, s := range []string{"", "1", "1-3", "* $ ^ .", "+ -", ":n :u :d", "/subj", "user3", "2-", "-2", "99999999999999999999", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		s := testBox(6)
		s.msgs[2].flags |= fDeleted
		for _, mode := range []listMode{undeletedOnly, deletedOnly, anyMessage} {
			got, err := s.resolve(arg, mode)
			if err != nil {
				continue
			}
			for i, x := range got {
				if x < 0 || x >= len(s.msgs) || (i > 0 && got[i-1] >= x) {
					t.Fatalf("%q: bad result %v", arg, got)
				}
			}
		}
	})
}

func FuzzMailrc(f *testing.F) {
	f.Add("set hold crt=20 record=\"+sent\"\nalias a b c\nif r\nset x\nendif\n")
	f.Add("set 'a\nunset\\\n b\nretain From\nignore To\n#c\nelse\nendif\nif\n")
	f.Add("account work {\n set from=a@b\n}\ndefine x {\nunset hold\n")
	f.Fuzz(func(t *testing.T, rc string) {
		s := newSettings()
		s.parse(strings.NewReader(rc), "rc", 's', true)
		s.expandAliases([]string{"a", "b"})
		s.shown("from")
	})
}

func FuzzSplitWords(f *testing.F) {
	f.Add(`set a="b c" 'd e' f\ g`)
	f.Fuzz(func(t *testing.T, line string) {
		words, err := splitWords(line)
		if err == nil {
			for _, w := range words {
				if w == "" && !strings.ContainsAny(line, `"'`) {
					t.Fatalf("%q: empty word", line)
				}
			}
		}
	})
}

func FuzzScanMbox(f *testing.F) {
	f.Add([]byte("From a@b Sat Jan  2 08:50:00 2021\nSubject: x\n\nbody\n>From q\n\nFrom c@d Sat Jan  2 08:50:00 2021\n\n"))
	f.Add([]byte("From \r\n\r\nFrom \n"))
	f.Add([]byte("\n\nFrom x\nSubject: \n folded\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, size, err := scanMbox(bytes.NewReader(data))
		if err != nil {
			return
		}
		if size != int64(len(data)) {
			t.Fatalf("size %d of %d", size, len(data))
		}
		var prev int64 = -1
		for _, m := range msgs {
			if m.Off <= prev || m.Off+m.Size > size || m.Size < 0 || !bytes.HasPrefix(data[m.Off:], []byte("From ")) {
				t.Fatalf("bad message span %d+%d", m.Off, m.Size)
			}
			prev = m.Off
		}
	})
}

func FuzzRenderBody(f *testing.F) {
	f.Add([]byte("Subject: =?utf-8?q?x?=\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9\n--b\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw==\n--b--\n"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=\"x\"\n\n--x\nContent-Type: text/html\n\n<b>hi</b>\n--x\nContent-Type: text/plain; charset=koi8-r\n\n\xc1\xc2\n--x--\n"))
	f.Add([]byte("no header at all"))
	f.Add([]byte("Subject: =?utf-7?q?+ABs-?= \x1b\xe9\nContent-Type: text/plain; charset=utf-7\n\nesc +ABs-[31m\n"))
	f.Add([]byte("Content-Type: text/plain; charset=utf-16\nContent-Transfer-Encoding: base64\n\n//4bAA==\n"))
	f.Add([]byte("Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGk=!\x1b[31m\n"))
	f.Add([]byte("Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nok=\n\x1b[31m =1B\n"))
	f.Add([]byte("Content-Type: multipart/report; boundary=r\n\n--r\nContent-Type: message/delivery-status\n\nStatus: 5.1.1\x1b\n--r\nContent-Type: message/rfc822\n\nSubject: =?utf-8?q?=1B?=\nContent-Type: text/plain; charset=iso-8859-1\n\n\xe9\x1b\n--r--\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var w bytes.Buffer
		renderBody(&w, raw, func(string) bool { return true })
		h, _ := splitMessage(raw)
		writeHeader(&w, h, func(string) bool { return true })
		for _, r := range w.String() {
			if r == 0x1b {
				t.Fatal("an escape character reaches the terminal")
			}
		}
	})
}

func FuzzParseOptions(f *testing.F) {
	f.Add("-nN\x00-s\x00subj\x00root\x00-c\x00a@b")
	f.Add("-f\x00box\x00-H")
	f.Fuzz(func(t *testing.T, args string) {
		parseOptions(strings.Split(args, "\x00"))
	})
}

func FuzzFoldHeader(f *testing.F) {
	f.Add("Subject: " + strings.Repeat("word ", 40) + "\nTo: a\n")
	f.Add("X: " + strings.Repeat("y", 90) + "   \n")
	f.Fuzz(func(t *testing.T, h string) {
		out := string(foldHeader([]byte(h)))
		if strings.ReplaceAll(out, "\n ", " ") != strings.ReplaceAll(h, "\n ", " ") {
			t.Fatalf("folding changed the header:\n%q\n%q", h, out)
		}
	})
}

// FuzzMboxRewrite deletes some messages of an arbitrary mbox and
// rewrites it: the kept messages must read back the same, apart from
// their Status field, and in the same number.
func FuzzMboxRewrite(f *testing.F) {
	f.Add([]byte("From a@b Sat Jan  2 08:50:00 2021\nSubject: x\nStatus: O\n\nbody\n>From q\n\nFrom c@d Sat Jan  2 08:50:00 2021\n\nlast"), byte(1))
	f.Add([]byte("From a\r\nX: y\r\n\r\nb\r\n\r\nFrom c\r\n\r\n\r\n"), byte(2))
	f.Add([]byte("From a\nSubject: no body"), byte(0))
	f.Fuzz(func(t *testing.T, data []byte, mask byte) {
		path := t.TempDir() + "/mbox"
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		box, err := openBox("mbox", path, false)
		if err != nil || len(box.Msgs) == 0 {
			return
		}
		defer box.Close()
		var want []string
		for i, m := range box.Msgs {
			if mask&(1<<(i%8)) != 0 {
				m.flags |= fDeleted
				continue
			}
			raw, err := box.Raw(m)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, withoutStatus(raw))
		}
		s := &session{env: &env{set: newSettings(), out: bufio.NewWriter(io.Discard)}, box: box}
		if _, err := s.applyMbox(nil); err != nil {
			t.Fatal(err)
		}
		again, err := openBox("mbox", path, false)
		if len(want) == 0 {
			if err == nil {
				again.Close()
			}
			if err == nil && len(again.Msgs) != 0 {
				t.Fatalf("%d messages left, want none", len(again.Msgs))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		sameMessages(t, again, want)
	})
}

// withoutStatus drops Status fields (and their continuation lines) from
// the header of a raw message, normalises the header's line ends (a
// rewrite may end a last header line that had none) and trims the line
// ends at the very end.
// sameMessages fails t unless box holds want, message by message, with
// the Status fields that a rewrite adds left out.
func sameMessages(t *testing.T, box *Box, want []string) {
	t.Helper()
	if len(box.Msgs) != len(want) {
		t.Fatalf("%d messages after the rewrite, want %d", len(box.Msgs), len(want))
	}
	for i, m := range box.Msgs {
		raw, _ := box.Raw(m)
		if got := withoutStatus(raw); got != want[i] {
			t.Fatalf("message %d:\n%q\nwant\n%q", i+1, got, want[i])
		}
	}
}

func withoutStatus(raw []byte) string {
	header, body := splitMessage(raw)
	var out []string
	skip := false
	for _, l := range strings.SplitAfter(string(header), "\n") {
		if skip && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) {
			continue
		}
		skip = len(l) >= 7 && strings.EqualFold(l[:7], "status:")
		if !skip && strings.TrimRight(l, "\r\n") != "" {
			out = append(out, strings.TrimRight(l, "\r\n")+"\n")
		}
	}
	return strings.TrimRight(strings.Join(out, "")+"|"+string(body), "\r\n")
}

// withStatus leaves one Status field, before the end of the header
// section, and every other line as it was. (What follows the empty line
// that ends the section is not header: readHeaderSection gives none, and
// a Status line there is kept as text.)
func FuzzWithStatus(f *testing.F) {
	for _, s := range []string{
		"From: a\nStatus: O\n  folded\nSubject: s\n\n",
		"From: a\r\nSubject: s\r\n\r\n",
		"Subject: no end",
		"status: R\nSTATUS: O\n\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		// A header section, as readHeaderSection gives it: up to its
		// first empty line.
		for off := 0; off < len(h); {
			l := h[off:]
			if i := strings.IndexByte(l, '\n'); i >= 0 {
				l = l[:i+1]
			}
			if l == "\n" || l == "\r\n" {
				h = h[:off+len(l)]
				break
			}
			off += len(l)
		}
		out := string(withStatus([]byte(h), "RO"))
		if n := strings.Count(strings.ToLower("\n"+out), "\nstatus: ro"); n != 1 {
			t.Fatalf("%q gave %q: %d Status fields", h, out, n)
		}
		// What is not a Status field (or its continuation) is kept,
		// in order.
		var kept []string
		skipping := false
		for _, l := range strings.SplitAfter(h, "\n") {
			if l == "" {
				continue
			}
			if skipping && (l[0] == ' ' || l[0] == '\t') {
				continue
			}
			skipping = len(l) >= 7 && strings.EqualFold(l[:7], "status:")
			if !skipping {
				kept = append(kept, strings.TrimRight(l, "\r\n"))
			}
		}
		var got []string
		for _, l := range strings.SplitAfter(out, "\n") {
			if l != "" && !(len(l) >= 7 && strings.EqualFold(l[:7], "status:")) {
				got = append(got, strings.TrimRight(l, "\r\n"))
			}
		}
		if strings.Join(kept, "|") != strings.Join(got, "|") {
			t.Fatalf("%q gave %q: lines changed", h, out)
		}
	})
}
