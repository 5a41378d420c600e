package submit

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"
)

// A message whose lines end in a lone CR (classic Mac OS text, as in
// the corpus's Postfix bounce) is read line by line, each CR a line end:
// read by LF alone it was one line, taken for its first header field,
// so that a leading Return-Path or Bcc took the whole message with it
// (sendmail exited 0 and an empty message was stored), and -t read the
// rest of the message as the To field's recipients.
func TestCROnlyLineEnds(t *testing.T) {
	cases := []struct {
		name, msg, want string
	}{
		{"Return-Path first", "Return-Path: <x@y>\rSubject: cr-only-1\rFrom: a@b\rDate: d\rMessage-ID: <m>\r\rimportant body\rsecond line\r",
			"Subject: cr-only-1\nFrom: a@b\nDate: d\nMessage-ID: <m>\n\nimportant body\nsecond line\n"},
		{"Bcc first", "Bcc: secret@x\rSubject: cr-only-2\rFrom: a@b\rDate: d\rMessage-ID: <m>\r\rbody 2\r",
			"Subject: cr-only-2\nFrom: a@b\nDate: d\nMessage-ID: <m>\n\nbody 2\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, _ := submitted(t, Options{Recipients: []string{"bob"}, IgnoreDots: true}, c.msg)
			if body != c.want {
				t.Errorf("got\n%q\nwant\n%q", body, c.want)
			}
		})
	}
	t.Run("-t", func(t *testing.T) {
		body, env := submitted(t, Options{Extract: true, IgnoreDots: true}, "To: carol\rSubject: cr-only-4\rFrom: a@b\rDate: d\rMessage-ID: <m>\r\rbody4\r")
		if len(env.Rcpts) != 1 || env.Rcpts[0].Addr != "carol" {
			t.Errorf("recipients %+v, want carol alone", env.Rcpts)
		}
		if !strings.HasSuffix(body, "\n\nbody4\n") {
			t.Errorf("body %q", body)
		}
	})
	// Lines that end in LF keep a CR inside a line as it is.
	t.Run("a CR inside an LF line", func(t *testing.T) {
		body, _ := submitted(t, Options{Recipients: []string{"bob"}, IgnoreDots: true}, "Subject: a\rb\nFrom: a@b\nDate: d\nMessage-ID: <m>\n\nx\ry\n")
		if want := "Subject: a\rb\nFrom: a@b\nDate: d\nMessage-ID: <m>\n\nx\ry\n"; body != want {
			t.Errorf("got %q, want %q", body, want)
		}
	})
}

// crLines decides at the first LF, without waiting for more input: a
// message typed at a terminal is not held up.
func TestCRLinesDecidesAtFirstLF(t *testing.T) {
	pr, pw := io.Pipe()
	go pw.Write([]byte("Subject: typed\n"))
	done := make(chan bool)
	go func() {
		cr, _ := crLines(bufio.NewReaderSize(pr, readerSize))
		done <- cr
	}()
	select {
	case got := <-done:
		if got {
			t.Error("crLines = true for an LF line")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("crLines waited for more input after the first LF")
	}
	pw.Close()
}

// FuzzCRLines: a message read with lone CRs as line ends loses no byte:
// every CR not followed by LF becomes LF, and nothing else changes.
func FuzzCRLines(f *testing.F) {
	f.Add([]byte("Return-Path: <x@y>\rSubject: s\r\rbody\r"))
	f.Add([]byte("a\r\r\nb\rc"))
	f.Add([]byte("Subject: a\rb\n\nx\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A reader of 16 bytes as well as Submit's: crLines looks as far
		// whatever the size of the reader it is given.
		size := readerSize
		if len(data) > 0 && data[0]&1 == 1 {
			size = 16
		}
		cr, br := crLines(bufio.NewReaderSize(strings.NewReader(string(data)), size))
		if !cr {
			if strings.Contains(string(data), "\r") && !strings.Contains(string(data[:min(len(data), 64<<10)]), "\n") {
				t.Fatalf("crLines = false for %q", data)
			}
			return
		}
		got, err := io.ReadAll(&crToLF{src: br})
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		for i, c := range data {
			if c == '\r' && (i+1 == len(data) || data[i+1] != '\n') {
				c = '\n'
			}
			want = append(want, c)
		}
		if string(got) != string(want) {
			t.Fatalf("%q read as %q, want %q", data, got, want)
		}
	})
}

// crLines looks at the first 64 KB of a message through Submit's reader
// of 32 KB, as it did through one of 64 KB: an LF past 32 KB is seen, one past
// 64 KB is not, and the reader it returns gives the whole input.
func TestCRLinesLooksPastReader(t *testing.T) {
	for _, c := range []struct {
		name string
		data string
		cr   bool
	}{
		{"no LF, 40 KB", "Subject: x\r" + strings.Repeat("a\r", 20000), true},
		{"LF at 40 KB", strings.Repeat("a\r", 20000) + "\nb\n", false},
		{"LF at 80 KB", strings.Repeat("a\r", 40000) + "\nb\n", true},
		{"no CR, no LF, 40 KB", strings.Repeat("a", 40000), false},
		{"LF at 8 KB", strings.Repeat("a\r", 4000) + "\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cr, br := crLines(bufio.NewReaderSize(strings.NewReader(c.data), readerSize))
			if cr != c.cr {
				t.Errorf("crLines = %v, want %v", cr, c.cr)
			}
			if got, err := io.ReadAll(br); err != nil || string(got) != c.data {
				t.Errorf("read %d bytes (%v), want the %d of the input", len(got), err, len(c.data))
			}
		})
	}
}
