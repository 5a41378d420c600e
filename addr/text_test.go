package addr

import (
	"mime"
	"testing"
	"unicode/utf8"
)

// A display name typed where the terminal is not UTF-8 (sendmail -F
// "J\xfcrgen", NAME, a GECOS field in Latin-1) is read as windows-1252,
// as mail(1) reads such a body, and sent as UTF-8: its encoded word was
// labelled utf-8 and held the Latin-1 bytes, which no reader decodes.
func TestFormatNameNotUTF8(t *testing.T) {
	dec := &mime.WordDecoder{}
	for name, want := range map[string]string{
		"J\xfcrgen":              "Jürgen",
		"Gr\xfc\xdfe":            "Grüße",
		"\x80 \x93quoted\x94":    "€ “quoted”",
		"J\xc3\xbcrgen":          "Jürgen",
		"J\xc3\xbcrgen \xff":     "Jürgen \uFFFD", // UTF-8 but for a stray byte
		"Cron Daemon":            "Cron Daemon",
		"Gr\xfc\xdfe, J\xfcrgen": "Grüße, Jürgen",
	} {
		got := Format(name, "j@example.org")
		if !utf8.ValidString(got) {
			t.Errorf("Format(%q) = %q: not UTF-8", name, got)
		}
		a, err := parseAddressList(got)
		if err != nil || len(a) != 1 {
			t.Errorf("Format(%q) = %q: does not parse: %v", name, got, err)
			continue
		}
		if d, err := dec.DecodeHeader(a[0].Name); err != nil || d != want || a[0].Address != "j@example.org" {
			t.Errorf("Format(%q) = %q, name %q (%v), want %q", name, got, d, err, want)
		}
	}
}

// HeaderText gives UTF-8 as it is, without allocating: sendmail calls it
// for every message that gets a From.
func TestHeaderTextUTF8NoAlloc(t *testing.T) {
	s := "Jürgen Müller"
	if n := testing.AllocsPerRun(100, func() {
		if HeaderText(s) != s {
			t.Fatal("changed")
		}
	}); n != 0 {
		t.Errorf("%v allocations for UTF-8 text", n)
	}
}
