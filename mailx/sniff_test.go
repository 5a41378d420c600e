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
