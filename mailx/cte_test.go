package mailx

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"testing/iotest"
)

// cteDecode reads raw through a cteReader one byte at a time (the
// hardest way for it), and gives the text, whether it stopped, and the
// rest.
func cteDecode(t testing.TB, enc string, raw []byte) (out []byte, broken bool, rest []byte) {
	d := newCTEReader(enc, iotest.OneByteReader(bytes.NewReader(raw)))
	out, err := io.ReadAll(iotest.OneByteReader(d))
	if err != nil {
		t.Fatalf("%s %q: %v", enc, raw, err)
	}
	// And the same read in one piece.
	d2 := newCTEReader(enc, bytes.NewReader(raw))
	out2, _ := io.ReadAll(d2)
	if !bytes.Equal(out, out2) || d.Broken() != d2.Broken() {
		t.Fatalf("%s %q: %q (broken %v) read a byte at a time, %q (%v) at once", enc, raw, out, d.Broken(), out2, d2.Broken())
	}
	rest, _ = io.ReadAll(d.Rest())
	rest2, _ := io.ReadAll(d2.Rest())
	if !bytes.Equal(rest, rest2) {
		t.Fatalf("%s %q: rest %q a byte at a time, %q at once", enc, raw, rest, rest2)
	}
	return out, d.Broken(), rest
}

// stdBase64 decodes raw as go-message did: space and tab made newlines,
// then encoding/base64.
func stdBase64(raw []byte) ([]byte, error) {
	in := bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return '\n'
		}
		return r
	}, raw)
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(in)))
	n, err := base64.StdEncoding.Decode(dst, in)
	return dst[:n], err
}

// checkCTE compares cteReader with the standard library's decoder on
// raw: the same text where that decodes all of it; else the text that
// it decodes before the place where it fails, and the rest is the
// body from there, the text all that comes before it. A line longer
// than quotedprintable's buffer is left out: it fails those.
func checkCTE(t testing.TB, enc string, raw []byte) {
	out, broken, rest := cteDecode(t, enc, raw)
	if !broken && len(rest) > 0 {
		t.Fatalf("%s %q: a rest %q without a stop", enc, raw, rest)
	}
	if !bytes.HasSuffix(raw, rest) && !(enc == "base64" && spaceRun(raw) > maxQuantumSpace) {
		t.Fatalf("%s %q: the rest %q is not how the body ends", enc, raw, rest)
	}
	head := raw[:len(raw)-len(rest)]
	if enc == "base64" {
		want, err := stdBase64(raw)
		if (err != nil) != broken || !bytes.Equal(out, want) {
			t.Fatalf("base64 %q: %q broken %v, encoding/base64 gives %q, %v", raw, out, broken, want, err)
		}
		if broken {
			if len(rest) == 0 || b64Space(rest[0]) {
				t.Fatalf("base64 %q: the rest %q does not start where decoding stopped", raw, rest)
			}
			if got, err := stdBase64(head); (err != nil || !bytes.Equal(got, out)) && spaceRun(raw) <= maxQuantumSpace {
				t.Fatalf("base64 %q: what comes before the rest %q decodes to %q, %v, not %q", raw, rest, got, err, out)
			}
		}
		return
	}
	want, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	if errors.Is(err, bufio.ErrBufferFull) {
		return
	}
	if err == nil {
		if broken || !bytes.Equal(out, want) {
			t.Fatalf("qp %q: %q broken %v, mime/quotedprintable gives %q", raw, out, broken, want)
		}
		return
	}
	if !broken || !bytes.HasPrefix(want, out) {
		t.Fatalf("qp %q: %q broken %v, mime/quotedprintable gives %q, %v", raw, out, broken, want, err)
	}
	if len(head) > 0 && head[len(head)-1] != '\n' {
		t.Fatalf("qp %q: the rest %q does not start a line", raw, rest)
	}
	if got, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(head))); err != nil || !bytes.Equal(got, out) {
		t.Fatalf("qp %q: what comes before the rest %q decodes to %q, %v, not %q", raw, rest, got, err, out)
	}
}

// spaceRun is the length of the longest run of base64's white space in b.
func spaceRun(b []byte) int {
	longest, n := 0, 0
	for _, c := range b {
		if b64Space(c) {
			n++
			longest = max(longest, n)
		} else {
			n = 0
		}
	}
	return longest
}

func TestCTEReader(t *testing.T) {
	cases := []struct {
		enc, raw, out, rest string
	}{
		{"base64", "aGVsbG8gd29ybGQ=\n", "hello world", ""},
		{"base64", "aGVs bG8g\td29y\r\nbGQ=\n\n", "hello world", ""},
		{"base64", "aGVsbG8gd29y!!!bGQ=\nnot base64\n", "hello wor", "!!!bGQ=\nnot base64\n"},
		{"base64", "aGVsbG8gd29\n*bGQ=\n", "hello ", "d29\n*bGQ=\n"},
		{"base64", "aGk=\naGk=\n", "hi", "aGk=\n"},
		{"base64", "aQ==x", "i", "x"},
		{"base64", "aQ=\n=\n", "i", ""},
		{"base64", "aQ=x", "", "aQ=x"},
		{"base64", "aGk", "", "aGk"},
		{"base64", "=aGk", "", "=aGk"},
		{"base64", "", "", ""},
		{"quoted-printable", "caf=E9 =\nsoft\r\nline  \nlast", "caf\xe9 soft\r\nline\nlast", ""},
		{"quoted-printable", "a=zz =4\n=\n", "a=zz =4\n", ""},
		{"quoted-printable", "one\ntwo\x00 =E9\nthree\n", "one\n", "two\x00 =E9\nthree\n"},
		{"quoted-printable", "one\ntwo=\rx\n", "one\n", "two=\rx\n"},
		{"quoted-printable", "x\n" + strings.Repeat("y", 5000) + "\nz\n", "x\n" + strings.Repeat("y", 5000) + "\nz\n", ""},
	}
	for _, c := range cases {
		out, broken, rest := cteDecode(t, c.enc, []byte(c.raw))
		if string(out) != c.out || string(rest) != c.rest || broken != (c.rest != "") {
			t.Errorf("%s %q: %q, rest %q (broken %v), want %q, rest %q", c.enc, c.raw, out, rest, broken, c.out, c.rest)
		}
		if len(c.raw) < 4096 {
			checkCTE(t, c.enc, []byte(c.raw))
		}
	}
	// A line longer than maxQPLine is where decoding stops.
	long := "ok\n" + strings.Repeat("=41", maxQPLine/3+1) + "\nafter\n"
	out, broken, rest := cteDecode(t, "quoted-printable", []byte(long))
	if string(out) != "ok\n" || !broken || string(rest) != long[3:] {
		t.Errorf("a line over maxQPLine: %q, broken %v, rest of %d bytes", out, broken, len(rest))
	}
}

// FuzzCTEReader checks cteReader against the standard library's
// decoders (checkCTE).
func FuzzCTEReader(f *testing.F) {
	for _, s := range []string{
		"aGVsbG8gd29ybGQ=\n", "aGVsbG8gd29y!!!bGQ=\nnot base64\n", "aGk=\naGk=\n", "aQ=\n=\n", "aGk", " a G k = \r\n",
		"caf=E9 =\nsoft\r\nline  \nlast", "a=zz =4\n=\n", "one\ntwo\x00 =E9\nthree\n", "x==\n", "=\r\n=\r", "a=\r\n\r\n",
	} {
		f.Add(true, []byte(s))
		f.Add(false, []byte(s))
	}
	f.Fuzz(func(t *testing.T, b64 bool, raw []byte) {
		enc := "quoted-printable"
		if b64 {
			enc = "base64"
		}
		checkCTE(t, enc, raw)
	})
}
