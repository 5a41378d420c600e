package smtpwire

import (
	"bytes"
	"io"
)

// misspelt are go-smtp's reply texts that are not spelled right, with
// what is sent instead.
var misspelt = []struct{ from, to []byte }{
	{[]byte("Quiting"), []byte("Quitting")}, // "Too many errors. Quiting now"
}

// Writer is the server's side of a session: go-smtp's replies, with its
// misspellings corrected and the paths that Reader qualified shown with
// Domain (or bare when Domain is empty).
//
// go-smtp writes whole reply lines and flushes after each reply; a
// piece without its line end is held until the end comes, so that a
// text is never split between two writes when it is fixed.
type Writer struct {
	W      io.Writer
	Domain string
	held   []byte
}

// Write fixes the complete lines of p and what was held before them.
func (w *Writer) Write(p []byte) (int, error) {
	w.held = append(w.held, p...)
	end := bytes.LastIndexByte(w.held, '\n') + 1
	if end == 0 {
		return len(p), nil
	}
	out := Fix(w.held[:end], w.Domain)
	if _, err := w.W.Write(out); err != nil {
		return 0, err
	}
	w.held = append(w.held[:0], w.held[end:]...)
	return len(p), nil
}

// Fix returns reply text with go-smtp's misspellings corrected and
// "@"+Unqualified replaced by "@"+domain (removed if domain is "").
func Fix(reply []byte, domain string) []byte {
	marker := []byte("@" + Unqualified)
	if bytes.Contains(reply, marker) {
		to := []byte(nil)
		if domain != "" {
			to = []byte("@" + domain)
		}
		reply = bytes.ReplaceAll(reply, marker, to)
	}
	for _, m := range misspelt {
		if bytes.Contains(reply, m.from) {
			reply = bytes.ReplaceAll(reply, m.from, m.to)
		}
	}
	return reply
}
