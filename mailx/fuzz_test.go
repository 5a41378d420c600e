package mailx

import (
	"bufio"
	"bytes"
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
			if m.Off <= prev || m.Off+m.Len > size || m.Len < 0 || !bytes.HasPrefix(data[m.Off:], []byte("From ")) {
				t.Fatalf("bad message span %d+%d", m.Off, m.Len)
			}
			prev = m.Off
		}
	})
}

func FuzzRenderBody(f *testing.F) {
	f.Add([]byte("Subject: =?utf-8?q?x?=\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9\n--b\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw==\n--b--\n"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=\"x\"\n\n--x\nContent-Type: text/html\n\n<b>hi</b>\n--x\nContent-Type: text/plain; charset=koi8-r\n\n\xc1\xc2\n--x--\n"))
	f.Add([]byte("no header at all"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var w bytes.Buffer
		renderBody(&w, raw)
		h, _ := splitMessage(raw)
		writeHeader(&w, h, func(string) bool { return true })
		for _, r := range w.String() {
			if r == 0x1b {
				t.Fatal("an escape character reaches the terminal")
			}
		}
	})
}

func FuzzWriteWithStatus(f *testing.F) {
	f.Add([]byte("From a@b Sat Jan  2 08:50:00 2021\nSubject: x\nStatus: O\n X-folded\n\nbody\n"), "RO")
	f.Add([]byte("From a@b Sat Jan  2 08:50:00 2021"), "O")
	f.Fuzz(func(t *testing.T, msg []byte, status string) {
		if !bytes.HasPrefix(msg, []byte("From ")) || strings.ContainsAny(status, "\r\n") {
			return
		}
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		if err := writeWithStatus(w, bufio.NewReaderSize(nil, 64<<10), bytes.NewReader(msg), status); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if !bytes.Contains(out.Bytes(), []byte("Status: "+status+"\n")) {
			t.Fatalf("no Status field in %q", out.Bytes())
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
