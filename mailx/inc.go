package mailx

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"homepost/maildir"
)

// cmdInc is inc and newmail: it adds the messages that arrived since the
// mailbox was read to the end of the session's list, numbered after the
// last, and prints their summary lines. The current message moves only
// when there was none.
func (s *session) cmdInc(string) error {
	first := len(s.box.Msgs)
	n, err := s.box.incorporate()
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(s.out, "No new mail.")
		return nil
	}
	if s.dot < 0 {
		s.dot = first
		s.shown = false
	}
	width := s.width()
	for i := first; i < len(s.box.Msgs); i++ {
		s.out.WriteString(headerLine(s.box.Msgs[i], i == s.dot, width) + "\n")
	}
	return nil
}

// incorporate appends to b.Msgs the messages that arrived since the
// mailbox was read and returns how many.
func (b *Box) incorporate() (int, error) {
	var msgs []*Msg
	var err error
	if b.Kind == "maildir" {
		msgs, err = b.newMaildirMessages()
	} else {
		msgs, err = b.newMboxMessages()
	}
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		m.Num = int32(len(b.Msgs) + 1)
		b.Msgs = append(b.Msgs, m)
	}
	return len(msgs), nil
}

// newMaildirMessages lists the files of new/ and cur/ whose base name
// is not in the session: those delivered since, not those that another
// client renamed (moved to cur/, flagged) meanwhile.
func (b *Box) newMaildirMessages() ([]*Msg, error) {
	known := make(map[string]bool, len(b.Msgs))
	for _, m := range b.Msgs {
		known[m.entry().Key()] = true
	}
	msgs, stale, err := scanMaildirExcept(b.Path, known)
	if err != nil {
		return nil, fmt.Errorf("inc %s: %w", b.Path, err)
	}
	b.stale = append(b.stale, stale...)
	return msgs, nil
}

// newMboxMessages scans what was appended to the mbox after the end
// that was read (see maildir.Mbox.ScanAppended: under the delivery
// locks, and only while the file is still the one that was read). A
// system mbox that did not exist when the session started is opened
// now. When another program rewrote the mbox, it is read again first
// (current), and the messages new to the session are those.
func (b *Box) newMboxMessages() ([]*Msg, error) {
	if b.f == nil {
		f, msgs, sigs, size, err := openMbox(b.Path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("inc %s: %w", b.Path, err)
		}
		b.f, b.read = f, size
		// After the messages another program removed with the
		// file, if any.
		b.sigs = append(b.sigs, sigs...)
		b.stamp = stampAt(f, size.Size)
		return msgs, nil
	}
	known := len(b.Msgs)
	if err := b.current(nil); err != nil {
		return nil, fmt.Errorf("inc %s: %w", b.Path, err)
	}
	// Those reread added, given back to be numbered again.
	msgs := slices.Clone(b.Msgs[known:])
	sigs := slices.Clone(b.sigs[known:])
	b.Msgs, b.sigs = b.Msgs[:known], b.sigs[:known]
	size, err := maildir.Mbox(b.Path).ScanAppended(b.f, b.read, mboxCollector(&msgs, &sigs))
	if err != nil {
		return nil, fmt.Errorf("inc %s: %w", b.Path, err)
	}
	b.read = size
	b.stamp = stampAt(b.f, size.Size)
	b.sigs = append(b.sigs, sigs...)
	return msgs, nil
}
