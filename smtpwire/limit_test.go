package smtpwire

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// With LimitCommands, a line of DATA's message of any length passes as
// it came, and so do the commands before an over-long command line; the
// over-long line itself (maxLine bytes with its CR LF is the most) ends
// the stream with smtp.ErrTooLongLine, whatever the size of the reads.
func TestLimitCommands(t *testing.T) {
	const max = 64
	long := strings.Repeat("x", 10*max)
	ok := "NOOP " + strings.Repeat("y", max-7) + "\r\n" // max bytes
	for _, chunk := range []int{1, 7, 4096} {
		in := "DATA\r\n" + long + "\r\n.\r\n" + ok + "NOOP " + strings.Repeat("z", max-6) + "\r\nNOOP\r\n"
		q := NewReader(strings.NewReader(in), nil, max)
		q.LimitCommands()
		var out []byte
		buf := make([]byte, chunk)
		var err error
		for err == nil {
			var n int
			n, err = q.Read(buf)
			out = append(out, buf[:n]...)
		}
		if want := "DATA\r\n" + long + "\r\n.\r\n" + ok; string(out) != want {
			t.Errorf("reads of %d: passed %d bytes %q..., want %d", chunk, len(out), string(out[:min(len(out), 40)]), len(want))
		}
		if !errors.Is(err, smtp.ErrTooLongLine) {
			t.Errorf("reads of %d: error %v, want ErrTooLongLine", chunk, err)
		}
	}
	// Without it, nothing is refused here (go-smtp's own limit applies).
	q := NewReader(strings.NewReader("NOOP "+long+"\r\n"), nil, max)
	if b, err := io.ReadAll(q); err != nil || len(b) != len(long)+7 {
		t.Errorf("without LimitCommands: %d bytes, %v", len(b), err)
	}
}
