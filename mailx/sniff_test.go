package mailx

import "testing"

func TestGuessType(t *testing.T) {
	for _, c := range []struct {
		name string
		data string
		want string
	}{
		{"report.pdf", "whatever", "application/pdf"},
		{"noext", "%PDF-1.7 ...", "application/pdf"},
		{"noext", "\x89PNG\r\n\x1a\nxxxx", "image/png"},
		{"noext", "plain words\nand lines\n", "text/plain"},
		{"noext", "bin\x00ary", "application/octet-stream"},
		{"noext", "\xff\xfe\xfd", "application/octet-stream"},
	} {
		if got := guessType(c.name, []byte(c.data)); got != c.want {
			t.Errorf("guessType(%q, %q) = %q, want %q", c.name, c.data, got, c.want)
		}
	}
}

func TestConvertCharsets(t *testing.T) {
	for _, c := range []struct{ charset, in, want string }{
		{"shift_jis", "\x93\xfa\x96\x7b", "日本"},
		{"ISO-2022-JP", "\x1b$BF|K\\\x1b(B", "日本"},
		{"koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4", "Привет"},
		{"windows-1251", "\xcf\xf0\xe8", "При"},
		{"iso-8859-1", "caf\xe9", "café"},
		{"x-unknown", "ok\xff", "ok\uFFFD"},
	} {
		if got, _ := convert(c.charset, []byte(c.in)); got != c.want {
			t.Errorf("convert(%s, %q) = %q, want %q", c.charset, c.in, got, c.want)
		}
	}
}
