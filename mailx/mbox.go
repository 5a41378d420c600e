package mailx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"homepost/maildir"
)

// scanMbox reads an mbox once from start to end and returns its messages.
// A message starts at a "From " line at the start of the file or after an
// empty line (the mboxrd and mboxcl rule that mutt and s-nail follow);
// only the header section is looked at, body lines are only counted.
func scanMbox(r io.Reader) ([]*Msg, int64, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var (
		msgs     []*Msg
		cur      *Msg
		h        hscan
		pos      int64
		inHeader bool
		prevLF   = true // the previous line was empty (or none)
		partial  bool   // the previous fragment had no newline
		blankLen int64  // length of the last empty line (LF or CRLF)
	)
	finish := func(end int64) {
		if cur == nil {
			return
		}
		cur.Len = end - cur.Off
		if prevLF && cur.Len > 0 {
			// The empty line before the next "From " separates; it
			// is not part of the message.
			cur.Len -= blankLen
			cur.Lines--
		}
		cur.Size = cur.Len
	}
	for {
		l, err := br.ReadSlice('\n')
		if len(l) > 0 {
			atStart := !partial
			partial = l[len(l)-1] != '\n'
			switch {
			case atStart && prevLF && bytes.HasPrefix(l, []byte("From ")):
				finish(pos)
				fl := trimEOL(l)
				cur = &Msg{Num: len(msgs) + 1, Off: pos, FromLine: string(fl[5:])}
				msgs = append(msgs, cur)
				h = hscan{m: cur}
				inHeader = true
				cur.Lines = 1
			case cur == nil:
				if len(bytes.TrimSpace(l)) > 0 {
					return nil, 0, errors.New(`not an mbox file (it does not start with a "From " line)`)
				}
			default:
				if atStart {
					cur.Lines++
				}
				if inHeader && atStart {
					if isBlank(l) {
						inHeader = false
					} else {
						h.line(l)
					}
				}
			}
			prevLF = atStart && !partial && isBlank(l)
			if prevLF {
				blankLen = int64(len(l))
			}
			pos += int64(len(l))
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read: %w", err)
		}
	}
	finish(pos)
	return msgs, pos, nil
}

// openMbox opens and scans an mbox. It holds the delivery locks while it
// scans, so that a message being appended is either wholly in the scan
// or wholly after it; a file it may not lock (a read-only archive) is
// scanned without. The file stays open: message bodies are read from it
// by offset, so a rewrite by another program cannot mix up what is
// shown.
func openMbox(path string) (*os.File, []*Msg, int64, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, nil, 0, err
	}
	l, err := maildir.Mbox(path).Lock()
	switch {
	case err == nil:
		defer l.Unlock()
	case errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS):
	default:
		return nil, nil, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, 0, err
	}
	msgs, size, err := scanMbox(f)
	if err != nil {
		f.Close()
		return nil, nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	for _, m := range msgs {
		m.flags |= mboxFlags(m.Status)
	}
	return f, msgs, size, nil
}

// mboxFlags maps a Status header to session flags: no Status is new, "O"
// is old but unread, "R" is read.
func mboxFlags(status string) flag {
	var f flag
	hasO, hasR := false, false
	for i := 0; i < len(status); i++ {
		switch status[i] {
		case 'O':
			hasO = true
		case 'R':
			hasR = true
		}
	}
	if hasR {
		f |= fSeen | fOld
	} else if hasO {
		f |= fOld
	} else {
		f |= fNew
	}
	return f
}
