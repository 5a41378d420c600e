package mailx

import (
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// A text without a charset is shown line by line, each line that is not
// UTF-8 read as windows-1252 (latinText); a line longer than the
// 64 KiB read at a time is read in pieces, and a UTF-8 character cut
// between two pieces is still that character, not two windows-1252
// letters ("Ã©" for "é").
func TestLatinTextLongUTF8Line(t *testing.T) {
	for _, pre := range []int{64<<10 - 1, 64<<10 - 2, 64<<10 - 3, 128<<10 - 1} {
		line := strings.Repeat("a", pre) + "é€😀 end\n"
		var h message.Header
		h.Set("Content-Type", "text/plain")
		e, err := message.New(h, strings.NewReader(line+"caf\xe9\n"))
		if err != nil {
			t.Fatal(err)
		}
		latinText(e)
		got, err := io.ReadAll(e.Body)
		if err != nil {
			t.Fatal(err)
		}
		if want := line + "café\n"; string(got) != want {
			t.Errorf("%d bytes before the characters: got ...%q, want ...%q", pre, got[max(0, pre-2):], want[pre-2:])
		}
	}
}
