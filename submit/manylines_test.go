package submit

import (
	"errors"
	"strings"
	"testing"
)

// A header section of short lines that add up past MaxHeader is held
// only up to MaxHeader, as one long line is: the rest is passed through
// as it is (Bcc still removed), and -t refuses a recipient field past
// the limit rather than hold the whole header in memory.
func TestManyLinesHugeHeader(t *testing.T) {
	filler := strings.Repeat("X-Filler: "+strings.Repeat("f", 80)+"\n", MaxHeader/91+10)
	msg := "To: a@remote.example\n" + filler + "Bcc: secret@remote.example,\n another@remote.example\nX-After: kept\n\nbody\n"
	body, env := submitted(t, Options{Recipients: []string{"b"}, IgnoreDots: true}, msg)
	if want := "To: a@remote.example\n" + filler + "X-After: kept\n\nbody\n"; body != want {
		t.Errorf("the header changed: %d bytes, want %d; tail %q", len(body), len(want), body[max(0, len(body)-80):])
	}
	if len(env.Rcpts) != 1 || env.Rcpts[0].Addr != "b" {
		t.Errorf("recipients %+v", env.Rcpts)
	}
	// -t takes the recipients of the fields within the limit.
	_, env = submitted(t, Options{Extract: true, IgnoreDots: true}, "To: a@remote.example\n"+filler+"\nbody\n")
	if len(env.Rcpts) != 1 || env.Rcpts[0].Addr != "a@remote.example" {
		t.Errorf("-t recipients %+v", env.Rcpts)
	}
	_, err := Submit(testConfig(t), Options{Extract: true, IgnoreDots: true}, strings.NewReader("To: a@x\n"+filler+"Cc: c@x\n\nbody\n"))
	var de *DataError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "a Cc field follows more than 8 MiB of header") {
		t.Errorf("-t with a Cc field past the limit: %v", err)
	}
	// A header just under the limit is read whole, and completed.
	body, env = submitted(t, Options{Extract: true, IgnoreDots: true}, filler[:MaxHeader-200]+"\nTo: b@x\n\nbody\n")
	if len(env.Rcpts) != 1 || env.Rcpts[0].Addr != "b@x" || !strings.Contains(body, "\nMessage-ID: ") {
		t.Errorf("a header under the limit: %+v", env.Rcpts)
	}
}
