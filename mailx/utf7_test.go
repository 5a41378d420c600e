package mailx

import (
	"bytes"
	"encoding/base64"
	"io"
	"testing"
	"testing/iotest"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/transform"
)

// utf7 decodes b whole.
func utf7(t testing.TB, b []byte) string {
	out, _, err := transform.Bytes(&utf7Decoder{}, b)
	if err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return string(out)
}

// utf7Small decodes b with a destination of the least room the decoder
// works with, and the input given a byte at a time.
func utf7Small(t testing.TB, b []byte) string {
	var out []byte
	d := &utf7Decoder{}
	dst := make([]byte, utf7Room)
	src := []byte{}
	for i := 0; ; {
		atEOF := i == len(b)
		nDst, nSrc, err := d.Transform(dst, src, atEOF)
		out = append(out, dst[:nDst]...)
		src = src[nSrc:]
		switch err {
		case nil:
			if atEOF {
				return string(out)
			}
			src = append(src, b[i])
			i++
		case transform.ErrShortSrc:
			if atEOF {
				t.Fatalf("%q: ErrShortSrc at the end", b)
			}
			src = append(src, b[i])
			i++
		case transform.ErrShortDst:
			if nDst == 0 && nSrc == 0 {
				t.Fatalf("%q: no progress with %d bytes of room", b, len(dst))
			}
		default:
			t.Fatalf("%q: %v", b, err)
		}
	}
}

// encodeUTF7 writes s in UTF-7, every rune outside printable ASCII in a
// base64 run, as RFC 2152 does.
func encodeUTF7(s string) []byte {
	var out []byte
	var run []uint16
	flush := func(next byte) {
		if run == nil {
			return
		}
		b := make([]byte, 0, 2*len(run))
		for _, u := range run {
			b = append(b, byte(u>>8), byte(u))
		}
		out = append(out, '+')
		out = append(out, base64.RawStdEncoding.EncodeToString(b)...)
		if b64Value[next] != 0xFF || next == '-' {
			out = append(out, '-')
		}
		run = nil
	}
	for _, r := range s {
		if r >= ' ' && r < 0x7F && r != '+' || r == '\n' {
			flush(byte(r))
			out = append(out, byte(r))
			continue
		}
		if r == '+' && run == nil {
			out = append(out, '+', '-')
			continue
		}
		if run == nil {
			run = []uint16{}
		}
		for _, u := range utf16.Encode([]rune{r}) {
			run = append(run, u)
		}
	}
	flush('-')
	return out
}

func TestUTF7(t *testing.T) {
	for in, want := range map[string]string{
		"Hi Mom -+Jjo--!": "Hi Mom -☺-!",
		"A+ImIDkQ.":       "A≢Α.",
		"+ZeVnLIqe-x":     "日本語x",
		"caf+AOk utf7":    "café utf7",
		"a+-b":            "a+b",
		"+2D3eAA-":        "😀",
		"+2D0-x":          "\uFFFDx",
		"+3gA-":           "\uFFFD",
		"+2D3YPQ-":        "\uFFFD\uFFFD",
		"+AOkA-":          "é\uFFFD",
		"caf\xe9":         "caf\uFFFD",
		"+":               "",
		"+!":              "!",
		"":                "",
		"plain ascii\r\n": "plain ascii\r\n",
	} {
		if got := utf7(t, []byte(in)); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
		if got := utf7Small(t, []byte(in)); got != want {
			t.Errorf("%q decoded in small steps: %q, want %q", in, got, want)
		}
	}
	r := transform.NewReader(iotest.OneByteReader(bytes.NewReader([]byte("x+ZeVnLIqe-+-y"))), &utf7Decoder{})
	if b, err := io.ReadAll(r); err != nil || string(b) != "x日本語+y" {
		t.Errorf("through a reader: %q, %v", b, err)
	}
	if got, _ := convert("UTF-7", []byte("caf+AOk-")); got != "café" {
		t.Errorf("convert: %q", got)
	}
}

// FuzzUTF7 decodes any bytes to UTF-8 the same however they are fed,
// and text encoded in UTF-7 decodes back to itself.
func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"Hi Mom -+Jjo--!", "+2D3eAA-", "+2D0-x", "a+-b", "+AOkA-", "caf\xe9", "+ZeVn\nLIqe"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		whole := utf7(t, b)
		if !utf8.ValidString(whole) {
			t.Fatalf("%q: %q is not UTF-8", b, whole)
		}
		if small := utf7Small(t, b); small != whole {
			t.Fatalf("%q: %q in small steps, %q whole", b, small, whole)
		}
		if !utf8.Valid(b) {
			return
		}
		s := bytes.ToValidUTF8(b, nil)
		if got := utf7(t, encodeUTF7(string(s))); got != string(s) {
			t.Fatalf("%q encoded %q decodes to %q", s, encodeUTF7(string(s)), got)
		}
	})
}
