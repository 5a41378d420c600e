package smtpwire

import (
	"bytes"
	"io"
	"sync/atomic"
)

// misspelt are go-smtp's replies that are not spelled right (a word, or
// a code), with what is sent instead.
var misspelt = []struct{ from, to []byte }{
	{[]byte("Quiting"), []byte("Quitting")}, // "Too many errors. Quiting now"
	// A command out of sequence is 503 (RFC 5321 4.2.4: "bad sequence
	// of commands"); go-smtp answers 502, "command not implemented",
	// which a client may take as a missing feature.
	{[]byte("502 5.5.1 Please introduce yourself first."), []byte("503 5.5.1 Please introduce yourself first.")},
	{[]byte("502 5.5.1 Missing MAIL FROM command."), []byte("503 5.5.1 Missing MAIL FROM command.")},
	{[]byte("502 5.5.1 Missing RCPT TO command."), []byte("503 5.5.1 Missing RCPT TO command.")},
	{[]byte("502 5.5.1 MAIL not allowed during message transfer"), []byte("503 5.5.1 MAIL not allowed during message transfer")},
	{[]byte("502 5.5.1 RCPT not allowed during message transfer"), []byte("503 5.5.1 RCPT not allowed during message transfer")},
	{[]byte("502 5.5.1 DATA not allowed during message transfer"), []byte("503 5.5.1 DATA not allowed during message transfer")},
}

// Writer is the server's side of a session: go-smtp's replies, with its
// misspellings corrected and the paths that Reader qualified shown with
// Domain (or bare when Domain is empty).
//
// go-smtp writes whole reply lines and flushes after each reply; a
// piece without its line end is held until the end comes, so that a
// text is never split between two writes when it is fixed.
//
// Writer also counts the replies and keeps the code of the last one:
// the Reader of the same session learns from them whether go-smtp
// accepted a DATA command (354).
type Writer struct {
	W      io.Writer
	Domain string
	held   []byte

	count atomic.Uint64 // replies written
	last  atomic.Uint32 // the code of the last one
}

// Write fixes the complete lines of p and what was held before them.
func (w *Writer) Write(p []byte) (int, error) {
	w.held = append(w.held, p...)
	end := bytes.LastIndexByte(w.held, '\n') + 1
	if end == 0 {
		return len(p), nil
	}
	w.note(w.held[:end])
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

// note counts the replies that end in lines (whole lines: "NNN text" or
// "NNN", not "NNN-text", which another line follows).
func (w *Writer) note(lines []byte) {
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n')
		line := lines[:i+1]
		lines = lines[i+1:]
		if len(line) < 4 || line[3] == '-' {
			continue
		}
		code := uint32(0)
		for _, c := range line[:3] {
			code = code*10 + uint32(c-'0')
		}
		w.last.Store(code)
		w.count.Add(1)
	}
}
