// Package submit turns a message on a stream into a durable outbox entry:
// what sendmail, mail, the cron wrapper and every other front end call.
//
// The header section is read into memory (up to MaxHeader bytes) so that
// missing From, Date and Message-ID can be completed and, with -t,
// recipients extracted and Bcc removed; the body is streamed to the queue
// file in constant memory. Header bytes are never rewritten: fields are
// kept as received, in order, with their folding and 8-bit bytes; only
// Bcc and Return-Path fields are dropped and missing fields appended.
//
// Queueing a message also wakes delivery (Wake): where no agent runs, a
// one-shot one is started, so that no front end has to remember to.
package submit

import (
	"bytes"
	"fmt"
	"strings"

	"homepost/addr"
)

// MaxHeader bounds the header section held in memory. A longer "header"
// (a message with no line breaks, say) is passed through untouched.
const MaxHeader = 8 << 20

// Field is one header field as it appears in the message: the first line
// and its continuation lines, LF-terminated.
type Field struct {
	Raw  []byte
	Name string // as written; compare with strings.EqualFold
}

// Value returns the unfolded value of the field: the text after the
// colon, with line breaks removed and surrounding space trimmed.
func (f Field) Value() string {
	_, v, _ := bytes.Cut(f.Raw, []byte{':'})
	s := strings.ReplaceAll(string(v), "\r", "")
	s = strings.ReplaceAll(s, "\n", "")
	return strings.TrimSpace(s)
}

// Header is a parsed header section.
type Header struct {
	Fields []Field
	// Ended tells how the section ended: true for an empty line (which
	// is not part of Fields), false when the message ended or a line
	// that is not a header field began the body.
	Ended bool
	// Huge is set when the section exceeds MaxHeader: it is passed
	// through as it is and nothing is added to it.
	Huge bool
}

// Get returns the first field with the given name.
func (h *Header) Get(name string) (Field, bool) {
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return Field{}, false
}

// Has reports whether a field with the given name exists.
func (h *Header) Has(name string) bool {
	_, ok := h.Get(name)
	return ok
}

// fieldName returns the name of a header field line, or "" when the line
// does not start a field (RFC 5322 2.2: printable ASCII except colon,
// then a colon; obsolete syntax allows space before the colon).
//
// QUIRK: 8-bit bytes are taken as part of a name. RFC 6532 allows UTF-8
// in field values only, but generators write a non-ASCII name raw (Python's
// email package does, for X-Ünïcode-Value); read as a body line, it ended
// the header there, and a completed Date or Message-ID then went above it
// with the empty line that ends a header, which turned the fields below
// it (MIME-Version, Content-Type) into body text for every reader.
func fieldName(line []byte) string {
	for i, c := range line {
		switch {
		case c == ':':
			if i == 0 {
				return ""
			}
			return strings.TrimRight(string(line[:i]), " \t")
		case c == ' ' || c == '\t':
			// QUIRK: RFC 5322 4.5.3 obs-optional allows WSP before ':'.
			rest := bytes.TrimLeft(line[i:], " \t")
			if len(rest) > 0 && rest[0] == ':' && i > 0 {
				continue
			}
			return ""
		case c < 33 || c == 127:
			return ""
		}
	}
	return ""
}

// isContinuation reports whether line folds the previous field.
func isContinuation(line []byte) bool {
	return len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
}

// extract returns the recipients named in the header for -t: Resent-To,
// Resent-Cc and Resent-Bcc when any Resent- field exists (RFC 5322
// 3.6.6), otherwise To, Cc and Bcc — every occurrence.
func extract(h *Header) (list []string, bad []string) {
	names := []string{"To", "Cc", "Bcc"}
	if resentField(h) != "" {
		names = []string{"Resent-To", "Resent-Cc", "Resent-Bcc"}
	}
	for _, f := range h.Fields {
		for _, n := range names {
			if !strings.EqualFold(f.Name, n) {
				continue
			}
			good, errs := addr.ParseListEach(f.Value())
			for _, err := range errs {
				bad = append(bad, fmt.Sprintf("bad address in %s header: %v", f.Name, err))
			}
			list = append(list, good...)
		}
	}
	return list, bad
}

// resentField is the name of the header's first Resent- field, or "":
// with one, -t reads the Resent- recipient fields only.
func resentField(h *Header) string {
	for _, f := range h.Fields {
		if len(f.Name) > 7 && strings.EqualFold(f.Name[:7], "Resent-") {
			return f.Name
		}
	}
	return ""
}
