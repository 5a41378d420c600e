package mailx

import (
	"strings"

	"homepost/maildir"
)

// newStatus is the Status field a kept message gets on quit: "RO" once
// read, else "O" (a new message becomes old, as POSIX mailx does).
func newStatus(m *Msg) string {
	if m.has(fRead) || m.has(fSeen) {
		return "RO"
	}
	return "O"
}

func sameStatus(a, b string) bool {
	norm := func(s string) string {
		r := []byte(strings.TrimSpace(s))
		for i := 1; i < len(r); i++ {
			for j := i; j > 0 && r[j] < r[j-1]; j-- {
				r[j], r[j-1] = r[j-1], r[j]
			}
		}
		return string(r)
	}
	return norm(a) == norm(b)
}

// applyMbox rewrites the mbox when anything changed (see
// maildir.Mbox.Rewrite): the kept messages with updated Status fields,
// an edited one as its new text under its old "From " line, then every
// message that arrived meanwhile. It returns the number of bytes of
// messages that arrived (when nothing changed, 1 if any did). move,
// the appends of the messages bound for MBOX, runs under the mbox's
// locks once it is known to be unchanged, before it is rewritten: on
// its error nothing is rewritten.
func (s *session) applyMbox(move func() error) (int, error) {
	b := s.box
	if b.f == nil {
		return 0, nil
	}
	// Another program's rewrite: the session's changes go to its
	// messages where they are now (see current).
	if err := b.current(nil); err != nil {
		return 0, err
	}
	changed := false
	for _, m := range b.Msgs {
		if m.Off < 0 {
			// Removed by another program.
			continue
		}
		if s.fateOf(m) != keep || m.has(fEdited) || !sameStatus(m.status(), newStatus(m)) {
			changed = true
			break
		}
	}
	if !changed {
		// Mail that arrived, not a rewrite by another program.
		if n, err := maildir.Mbox(b.Path).Appended(b.f, b.read); err == nil && n > 0 {
			return 1, nil
		}
		return 0, nil
	}
	kept := func(yield func(maildir.Kept) bool) {
		for _, m := range b.Msgs {
			if s.fateOf(m) != keep || m.Off < 0 {
				continue
			}
			k := maildir.Kept{Off: m.Off, Len: m.Size, Status: newStatus(m)}
			if m.has(fEdited) {
				k.Text, k.FromLine = b.edited(m), b.fromLine(m)
			}
			if !yield(k) {
				return
			}
		}
	}
	// The move runs under the locks of the rewrite, which has checked
	// the file: the messages are read where they were scanned, without
	// a check of their own (see Box.held).
	var held func() error
	if move != nil {
		held = func() error {
			b.held = true
			defer func() { b.held = false }()
			return move()
		}
	}
	arrived, err := maildir.Mbox(b.Path).RewriteWith(b.f, b.read, kept, held)
	return int(arrived), err
}
