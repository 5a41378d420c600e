package report

import (
	"bufio"
	"bytes"
	"io"
	"mime/quotedprintable"
	"os"
	"strings"
	"testing"
	"time"

	"homepost/capture"
)

func qpEncode(data []byte) []byte {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	q := &qpWriter{w: bw}
	q.Write(data)
	q.Close()
	bw.Flush()
	return out.Bytes()
}

func checkQP(t *testing.T, data []byte) {
	enc := qpEncode(data)
	for _, l := range bytes.Split(enc, []byte("\n")) {
		if len(l) > 76 {
			t.Fatalf("line of %d characters: %q", len(l), l)
		}
		for _, c := range l {
			if c < 32 && c != '\t' || c > 126 {
				t.Fatalf("unencoded byte %#x in %q", c, l)
			}
		}
	}
	// Go's reader is the independent decoder; it expects CRLF or LF
	// line breaks and soft breaks.
	dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(enc)))
	if err != nil {
		t.Fatalf("decode %q: %v", enc, err)
	}
	if !bytes.Equal(dec, data) {
		t.Fatalf("round trip:\n got %q\nwant %q\n enc %q", dec, data, enc)
	}
}

func TestQPWriter(t *testing.T) {
	for _, s := range []string{
		"", "a", "plain text\n", "trailing space \nand tab\t\n", "end with space ",
		"10%\r100%\r\n", "\x00\xff=\n", strings.Repeat("x", 200) + "\n", strings.Repeat("=", 100),
		strings.Repeat("ab ", 60) + "\n",
	} {
		checkQP(t, []byte(s))
	}
}

func FuzzQPWriter(f *testing.F) {
	f.Add([]byte("hello \r\n\x00=\t"))
	f.Add([]byte(strings.Repeat("y", 80)))
	f.Fuzz(func(t *testing.T, data []byte) { checkQP(t, data) })
}

func TestNeedsQP(t *testing.T) {
	for s, want := range map[string]bool{
		"":                              false,
		"hello\nworld\n":                false,
		"héllo\n":                       false,
		"nul\x00":                       true,
		"cr\r\n":                        true,
		"bad\xffutf8\n":                 true,
		strings.Repeat("x", 999) + "\n": true,
		strings.Repeat("x", 998) + "\n": false,
	} {
		got, err := needsQP(strings.NewReader(s))
		if err != nil || got != want {
			t.Errorf("needsQP(%.20q) = %v, %v; want %v", s, got, err, want)
		}
	}
}

func TestQuoteArgv(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"backup", "--full", "/home"}, "backup --full /home"},
		{[]string{"sh", "-c", "echo 'hi'; exit 3"}, `sh -c 'echo '\''hi'\''; exit 3'`},
		{[]string{"x", ""}, "x ''"},
	} {
		if got := QuoteArgv(c.argv); got != c.want {
			t.Errorf("QuoteArgv(%q) = %s, want %s", c.argv, got, c.want)
		}
	}
}

func cronSubject(host string, j *capture.Job) string {
	return textHeader("Subject", Cron{Host: host, Job: j}.subject()).value
}

func TestCronSubject(t *testing.T) {
	r := &capture.Job{Argv: []string{"sauvegarde", "été"}, How: "exit 1", Elapsed: 1500 * time.Millisecond}
	s := cronSubject("h", r)
	if !strings.HasPrefix(s, "=?utf-8?q?") {
		t.Errorf("non-ASCII subject not encoded: %q", s)
	}
	r.Argv = []string{"echo", strings.Repeat("z", 300), "a\nb"}
	s = cronSubject("h", r)
	if strings.ContainsAny(s, "\r\n") || len(s) > 200 {
		t.Errorf("subject not one short line: %q", s)
	}
}

// The report's header is written as it always was: these fields, in this
// order, LF line endings, the subject one line, encoded when not ASCII.
func TestCronMessageHeader(t *testing.T) {
	spool, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	spool.WriteString("done\n")
	j := &capture.Job{Argv: []string{"backup", "été"}, How: "exit 3", Elapsed: 1500 * time.Millisecond,
		Start: time.Unix(1700000000, 0), Status: 3, Output: spool, Size: 5, Kept: 5}
	r, err := Cron{Host: "h.example", Dir: "/", To: []string{"root", "a@b"}, Job: j}.Message()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	want := "To: root, a@b\n" +
		"Subject: =?utf-8?q?[h.example]_cron:_backup_=C3=A9t=C3=A9:_exit_3_after_1.5s?=\n" +
		"Auto-Submitted: auto-generated\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n" +
		"Content-Transfer-Encoding: 8bit\n\nCommand:   backup été\n"
	if !strings.HasPrefix(string(b), want) {
		t.Errorf("message starts\n%s\nwant\n%s", b, want)
	}
	if !strings.HasSuffix(string(b), "merged):\n\ndone\n") {
		t.Errorf("output not at the end:\n%s", b)
	}
}
