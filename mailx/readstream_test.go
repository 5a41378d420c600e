package mailx

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"homepost/maildir"
)

// pieces reads r in reads of random sizes, as a pipe or a slow disk
// hands data over.
type pieces struct {
	r   io.Reader
	rnd *rand.Rand
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(b) > 1 {
		b = b[:1+p.rnd.IntN(min(len(b), 70000))]
	}
	return p.r.Read(b)
}

// randomText is lines made to trip the readers: '>' runs before "From ",
// CR, CRLF, invalid and cut UTF-8, controls, and lines longer than a
// 64 KiB buffer.
func randomText(r *rand.Rand, n int) []byte {
	bits := []string{"From ", ">", ">>", ">From ", "From", "\n", "\r\n", "\r", "x", "é", "\xe2\x82", "\xac", "\xff", "\x00", "\x1b", "\t", " ", "\u0085", "\ufffd", "a: b", "\n ", "\n\n"}
	var b []byte
	for len(b) < n {
		if r.IntN(200) == 0 {
			b = append(b, bytes.Repeat([]byte{'>'}, r.IntN(80000))...)
		}
		if r.IntN(300) == 0 {
			b = append(b, bytes.Repeat([]byte("y"), 60000+r.IntN(20000))...)
		}
		b = append(b, bits[r.IntN(len(bits))]...)
	}
	return b
}

// An mbox message read as a stream is what maildir.ReadMessage reads
// whole, however the reads are cut.
func TestMboxReaderUnquotes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	dir := t.TempDir()
	for i := range 300 {
		size := r.IntN(200)
		if i%10 == 0 {
			size = r.IntN(300000)
		}
		data := append([]byte("From a@b Mon Jan  2 15:04:05 2006\n"), randomText(r, size)...)
		if i%7 == 0 {
			data = randomText(r, size) // no "From " line, or no newline at all
		}
		path := filepath.Join(dir, "m")
		os.WriteFile(path, data, 0o600)
		f, _ := os.Open(path)
		want, err := maildir.ReadMessage(f, 0, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		mr := &mboxReader{br: bufio.NewReaderSize(io.NewSectionReader(f, 0, int64(len(data))), 64<<10)}
		got, err := io.ReadAll(&pieces{r: mr, rnd: r})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			d := firstDiff(got, want)
			t.Fatalf("case %d: %d bytes, want %d; first difference at %d: %q, want %q; input %q", i, len(got), len(want), d, got[max(0, d-20):min(len(got), d+20)], want[max(0, d-20):min(len(want), d+20)], data[max(0, len(data)-(len(want)-d)-40):])
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// oldDisplayText is displayText as it was, on the whole text at once.
func oldDisplayText(b []byte) string {
	s := eachInvalid(strings.ReplaceAll(string(b), "\r\n", "\n"))
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// eachInvalid is s with each byte that begins no UTF-8 character
// replaced by U+FFFD, as a conversion to runes makes it.
func eachInvalid(s string) string { return string([]rune(s)) }

// textFilter gives the same text in pieces as displayText (and
// eachInvalid) give on the whole, wherever it is cut.
func TestTextFilterPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for i := range 3000 {
		in := randomText(r, r.IntN(60))
		for _, display := range []bool{true, false} {
			want := eachInvalid(string(in))
			if display {
				want = oldDisplayText(in)
			}
			f := textFilter{display: display}
			var got []byte
			rest := in
			for len(rest) > 0 {
				k := r.IntN(len(rest) + 1)
				got = f.add(got, rest[:k], false)
				rest = rest[k:]
			}
			got = f.add(got, nil, true)
			if string(got) != want {
				t.Fatalf("case %d display=%v: %q: %q, want %q", i, display, in, got, want)
			}
		}
	}
	// Through the reader, in reads of any size.
	in := randomText(r, 500000)
	got, err := io.ReadAll(iotest.HalfReader(newValidUTF8Reader(&pieces{r: bytes.NewReader(in), rnd: r})))
	if err != nil || string(got) != eachInvalid(string(in)) {
		t.Fatalf("validUTF8Reader: %v, first difference at %d", err, firstDiff(got, []byte(eachInvalid(string(in)))))
	}
}

// top's lines are those a bufio.Scanner with a 1 MiB limit gave, as
// top printed them before it read messages as streams.
func TestLineLimitIsTheScanner(t *testing.T) {
	old := func(text []byte, max int) string {
		var w strings.Builder
		sc := bufio.NewScanner(bytes.NewReader(text))
		sc.Buffer(make([]byte, 4096), 1<<20)
		for n := 0; n < max && sc.Scan(); n++ {
			w.WriteString(sc.Text() + "\n")
		}
		return w.String()
	}
	r := rand.New(rand.NewPCG(3, 3))
	texts := [][]byte{nil, []byte("\n"), []byte("a"), []byte("a\r\nb\r"), []byte("a\n\nb\n")}
	for _, n := range []int{1<<20 - 1, 1 << 20} {
		long := bytes.Repeat([]byte("z"), n)
		texts = append(texts, long, append(long, '\n'), append(append([]byte("a\n"), long...), "\nb\n"...))
	}
	for range 200 {
		texts = append(texts, randomText(r, r.IntN(3000)))
	}
	for i, text := range texts {
		for _, max := range []int{0, 1, 2, 5, 1000} {
			var out bytes.Buffer
			l := &lineLimit{w: &out, max: max}
			rest := text
			for len(rest) > 0 {
				k := 1 + r.IntN(len(rest))
				if _, err := l.Write(rest[:k]); err != nil {
					break
				}
				rest = rest[k:]
			}
			l.finish()
			if want := old(text, max); out.String() != want {
				t.Fatalf("text %d, %d lines: %d bytes %.80q, want %d bytes %.80q", i, max, out.Len(), out.String(), len(want), want)
			}
		}
	}
}

// oldWriteHeader is writeHeader as it was.
func oldWriteHeader(w *bytes.Buffer, header []byte, keep func(string) bool) {
	var name, value string
	flush := func() {
		if name != "" && keep(name) {
			fmt.Fprintf(w, "%s: %s\n", printable(name), decodeHeader(strings.TrimSpace(value)))
		}
		name, value = "", ""
	}
	for _, l := range bytes.Split(header, []byte{'\n'}) {
		l = bytes.TrimRight(l, "\r")
		if len(l) == 0 {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			value += " " + strings.TrimSpace(string(l))
			continue
		}
		flush()
		n, v, ok := bytes.Cut(l, []byte{':'})
		if !ok {
			continue
		}
		name, value = string(n), string(v)
	}
	flush()
}

// The header is shown as it was; a field longer than maxField is cut
// and says how much is left out.
func TestWriteHeaderFrom(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	keep := func(n string) bool { return !strings.EqualFold(n, "a") }
	for i := range 2000 {
		text := randomText(r, r.IntN(400))
		header, _ := splitMessage(text)
		var want, got bytes.Buffer
		oldWriteHeader(&want, header, keep)
		if err := writeHeaderFrom(&got, &pieces{r: bytes.NewReader(text), rnd: r}, keep); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("case %d: %q:\n%q\nwant\n%q", i, text, got.String(), want.String())
		}
	}
	big := "Subject: " + strings.Repeat("w", maxField-100) + "\n " + strings.Repeat("v", 300) + "\n more\nTo: x@y\n\nbody\n"
	var got bytes.Buffer
	writeHeaderFrom(&got, strings.NewReader(big), func(string) bool { return true })
	want := "Subject: " + strings.Repeat("w", maxField-100) + " [-- 306 more bytes not shown --]\nTo: x@y\n"
	if got.String() != want {
		t.Errorf("a field past maxField: %d bytes, tail %q", got.Len(), got.String()[max(0, got.Len()-80):])
	}
}

// The MIME parser is given a header section of at most the limit: past
// it the message is shown as one the parser refuses, its body as
// stored.
func TestHeaderLimit(t *testing.T) {
	msg := "A: 1\r\nB: 2\n\r\nbody\n" + strings.Repeat("x", 100)
	got, err := io.ReadAll(&pieces{r: &headerLimit{r: strings.NewReader(msg), limit: 15}, rnd: rand.New(rand.NewPCG(5, 5))})
	if err != nil || string(got) != msg {
		t.Errorf("a header within the limit: %v, %q", err, got)
	}
	_, err = io.ReadAll(&headerLimit{r: strings.NewReader("A: 1\nB: 2\r\r\nC: 3\n\nbody\n"), limit: 15})
	if err != errHeaderTooLarge {
		t.Errorf("a header past the limit: %v", err)
	}
	var out bytes.Buffer
	raw := "Content-Type: multipart/mixed; boundary=b\nX: " + strings.Repeat("h", maxMIMEHeader) + "\n\n--b\nContent-Type: text/plain\n\npart\n--b--\n"
	renderBody(&out, []byte(raw), func(string) bool { return true })
	if out.String() != "--b\nContent-Type: text/plain\n\npart\n--b--\n" {
		t.Errorf("a header past the limit: the body shown is %q", out.String())
	}
}

// Quoted text is what the lines of the whole text, prefixed, were.
func TestQuoteWriter(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	for i := range 2000 {
		text := randomText(r, r.IntN(80))
		if i%5 == 0 {
			text = bytes.Repeat([]byte("\n"), r.IntN(4))
		}
		var want bytes.Buffer
		for _, l := range strings.SplitAfter(strings.TrimRight(string(text), "\n"), "\n") {
			want.WriteString("> " + strings.TrimRight(l, "\n") + "\n")
		}
		var got bytes.Buffer
		q := &quoteWriter{w: &got, prefix: "> "}
		for rest := text; len(rest) > 0; {
			k := 1 + r.IntN(len(rest))
			q.Write(rest[:k])
			rest = rest[k:]
		}
		q.Close()
		if got.String() != want.String() {
			t.Fatalf("%q: %q, want %q", text, got.String(), want.String())
		}
	}
}

// Header lines longer than a read buffer: shown as before, and the body
// found after them as splitMessage finds it.
func TestLongHeaderLines(t *testing.T) {
	long := strings.Repeat("v", 200000)
	for _, text := range []string{
		"Subject: " + long + "\n " + long + "\nTo: a@b\n\nbody\n",
		"X: " + long + "\r\n\r\nbody\r\n",
		long + ": odd\n\nbody\n",
		"A: 1\n" + long + "\n\n\nbody",
		"A: 1\n" + long,
	} {
		var want, got bytes.Buffer
		header, body := splitMessage([]byte(text))
		oldWriteHeader(&want, header, func(string) bool { return true })
		writeHeaderFrom(&got, strings.NewReader(text), func(string) bool { return true })
		if got.String() != want.String() {
			t.Errorf("%.40q: header shown differs", text)
		}
		br := bufio.NewReaderSize(strings.NewReader(text), 64<<10)
		rest := []byte{}
		if err := skipHeader(br); err == nil {
			rest, _ = io.ReadAll(br)
		}
		if !bytes.Equal(rest, body) {
			t.Errorf("%.40q: body %.40q, want %.40q", text, rest, body)
		}
	}
}
