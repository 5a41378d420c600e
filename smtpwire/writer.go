package smtpwire

import (
	"bytes"
	"io"
	"sync"
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
//
// With Hold, replies are kept back while the client has sent more that
// is yet to be answered, and written together when the session next
// waits for the client (Flush, which the Reader calls before it reads
// the socket) or ends: a client that pipelines (RFC 2920) MAIL, RCPT and
// DATA then gets their three replies in one write, as Postfix sends
// them, and is woken once instead of three times. A client that waits
// for each reply has nothing more sent, and each reply goes at once, in
// one write however many lines it has (go-smtp writes each line of a
// reply such as EHLO's with a write of its own).
type Writer struct {
	W      io.Writer
	Domain string
	// Hold, when set, reports whether the client has sent more than
	// what is being answered (Reader.Pending).
	Hold func() bool
	held []byte

	mu  sync.Mutex // out, and W's writes
	out []byte     // replies kept back (Hold)

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
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.Hold != nil && (w.Hold() || continued(out)):
		w.out = append(w.out, out...)
	case len(w.out) > 0:
		w.out = append(w.out, out...)
		if err := w.flush(); err != nil {
			return 0, err
		}
	default:
		if _, err := w.W.Write(out); err != nil {
			return 0, err
		}
	}
	w.held = append(w.held[:0], w.held[end:]...)
	return len(p), nil
}

// continued reports whether the last line of out is one that another
// line of the same reply follows ("250-PIPELINING"): go-smtp writes the
// rest at once, and the whole reply goes in one write.
func continued(out []byte) bool {
	i := bytes.LastIndexByte(out[:len(out)-1], '\n') + 1
	return len(out)-i >= 4 && out[i+3] == '-'
}

// Flush writes the replies kept back (Hold).
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flush()
}

// TryFlush is Flush unless a write is under way (which may be blocked
// on a client that does not read, until its deadline): for a Close from
// another goroutine, which must not wait for it.
func (w *Writer) TryFlush() {
	if w.mu.TryLock() {
		w.flush()
		w.mu.Unlock()
	}
}

func (w *Writer) flush() error {
	if len(w.out) == 0 {
		return nil
	}
	_, err := w.W.Write(w.out)
	w.out = w.out[:0]
	return err
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
