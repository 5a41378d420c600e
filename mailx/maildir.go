package mailx

import (
	"bytes"
	"strings"

	"homepost/maildir"
)

// scanMaildir lists a Maildir and reads the header of every message.
// Messages are in delivery order.
func scanMaildir(dir string) ([]*Msg, error) { return scanMaildirExcept(dir, nil) }

// scanMaildirExcept is scanMaildir leaving out the messages whose key
// (the name without the info part) is in known: inc uses it to find
// what arrived since the mailbox was listed. Numbers start at 1. The
// body of a message larger than the first read is not read, and its
// line count is shown as unknown.
func scanMaildirExcept(dir string, known map[string]bool) ([]*Msg, error) {
	d := maildir.Dir(dir)
	entries, err := d.List()
	if err != nil {
		return nil, err
	}
	if known != nil {
		out := entries[:0]
		for _, e := range entries {
			if !known[e.Key()] {
				out = append(out, e)
			}
		}
		entries = out
	}
	msgs := make([]*Msg, len(entries))
	for i, e := range entries {
		m := &Msg{Path: d.Path(e), Name: e.Key(), Info: e.Info()}
		if e.New {
			m.flags |= fNew
		} else {
			m.flags |= fOld
			if strings.IndexByte(m.Info, 'S') >= 0 {
				m.flags |= fSeen
			}
		}
		msgs[i] = m
	}
	d.ReadHeads(entries, func(i int, data []byte, size int64) {
		m := msgs[i]
		m.Size = size
		if size < 0 {
			return
		}
		h := hscan{m: m}
		scanHeaderBlock(data, &h)
		m.Lines = -1
		if int64(len(data)) >= size {
			m.Lines = int64(countLines(data))
		}
	})
	// Files that vanished (another client expunged them) are dropped.
	out := msgs[:0]
	for _, m := range msgs {
		if m.Size >= 0 {
			m.Num = len(out) + 1
			out = append(out, m)
		}
	}
	return out, nil
}

func countLines(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}
