package maildir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"syscall"
)

// ErrChanged means that another program rewrote an mbox while it was
// open: the offsets read before no longer hold.
var ErrChanged = errors.New("the mailbox was changed by another program")

// MboxMessage is where one message lies in an mbox.
type MboxMessage struct {
	// Off is where its "From " line starts; Len its length up to, not
	// including, the empty line that separates it from the next.
	Off, Len int64
	// Lines counts its lines, the "From " line included.
	Lines int64
	// FromLine is the "From " line without "From " and the newline;
	// valid only during the ScanFunc call.
	FromLine []byte
}

// ScanFunc receives each message of a scan with its header section
// (each line ending in a newline, without the empty line that ends
// it), valid only during the call.
type ScanFunc func(m *MboxMessage, header []byte)

// ScanMbox reads an mbox once from start to end and calls fn for each
// message; it returns the number of bytes read. A message starts at a
// "From " line at the start of the file or after an empty line (the
// mboxrd and mboxcl rule that mutt and s-nail follow); body lines are
// only counted. At most 1 MiB of a message's header is passed on, and
// of a line longer than 256 KiB only its start.
func ScanMbox(r io.Reader, fn ScanFunc) (int64, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var (
		cur      MboxMessage
		open     bool // cur holds a message
		from     []byte
		hdr      []byte
		pos      int64
		inHeader bool
		prevLF   = true // the previous line was empty (or none)
		partial  bool   // the previous fragment had no newline
		blankLen int64  // length of the last empty line (LF or CRLF)
	)
	finish := func(end int64) {
		if !open {
			return
		}
		cur.Len = end - cur.Off
		if prevLF && cur.Len > 0 {
			// The empty line before the next "From " separates; it
			// is not part of the message.
			cur.Len -= blankLen
			cur.Lines--
		}
		cur.FromLine = from
		fn(&cur, hdr)
	}
	for {
		l, err := br.ReadSlice('\n')
		if len(l) > 0 {
			atStart := !partial
			partial = l[len(l)-1] != '\n'
			switch {
			case atStart && prevLF && bytes.HasPrefix(l, []byte("From ")):
				finish(pos)
				from = append(from[:0], trimEOL(l)[5:]...)
				cur = MboxMessage{Off: pos, Lines: 1}
				open = true
				hdr = hdr[:0]
				inHeader = true
			case !open:
				if len(bytes.TrimSpace(l)) > 0 {
					return 0, errors.New(`not an mbox file (it does not start with a "From " line)`)
				}
			default:
				if atStart {
					cur.Lines++
				}
				if inHeader && atStart {
					if isBlank(l) {
						inHeader = false
					} else if len(hdr) < maxHead {
						// The first fragment of a line longer
						// than the buffer stands for it.
						hdr = append(hdr, l...)
						if partial {
							hdr = append(hdr, '\n')
						}
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
			return 0, fmt.Errorf("read: %w", err)
		}
	}
	finish(pos)
	return pos, nil
}

func trimEOL(l []byte) []byte {
	if n := len(l); n > 0 && l[n-1] == '\n' {
		l = l[:n-1]
		if n > 1 && l[n-2] == '\r' {
			l = l[:n-2]
		}
	}
	return l
}

// lockForReading takes the delivery locks for a scan; a file it may not
// lock (a read-only archive) is read without them, and l is nil.
func (m Mbox) lockForReading() (*Locked, error) {
	l, err := m.Lock()
	switch {
	case err == nil:
		return l, nil
	case errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS):
		return nil, nil
	}
	return nil, err
}

// Open opens and scans an mbox (see ScanMbox) and returns the open file
// and the bytes scanned. It holds the delivery locks while it scans, so
// that a message being appended is either wholly in the scan or wholly
// after it; a file it may not lock (a read-only archive) is scanned
// without. The file stays open: messages are read from it by offset
// (ReadMessage), so that a rewrite by another program cannot mix up
// what a reader shows. A missing mbox is an error that wraps
// os.ErrNotExist.
func (m Mbox) Open(fn ScanFunc) (*os.File, int64, error) {
	path := string(m)
	if _, err := os.Stat(path); err != nil {
		return nil, 0, err
	}
	l, err := m.lockForReading()
	if err != nil {
		return nil, 0, err
	}
	if l != nil {
		defer l.Unlock()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	size, err := ScanMbox(f, fn)
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return f, size, nil
}

// ScanAppended scans what was appended to the mbox after the first size
// bytes of f, which Open returned, under the delivery locks as Open
// scanned, and returns the new number of bytes scanned. The offsets fn
// sees count from the start of the file. The file must still be the
// one that was read and not have shrunk (else ErrChanged): a program
// that rewrote it meanwhile makes every offset read before wrong.
func (m Mbox) ScanAppended(f *os.File, size int64, fn ScanFunc) (int64, error) {
	l, err := m.lockForReading()
	if err != nil {
		return size, err
	}
	if l != nil {
		defer l.Unlock()
	}
	st, err := os.Stat(string(m))
	if err != nil {
		return size, err
	}
	old, err := f.Stat()
	if err != nil {
		return size, err
	}
	if !os.SameFile(st, old) || st.Size() < size {
		return size, ErrChanged
	}
	if st.Size() == size {
		return size, nil
	}
	n, err := ScanMbox(io.NewSectionReader(f, size, st.Size()-size), func(msg *MboxMessage, header []byte) {
		msg.Off += size
		fn(msg, header)
	})
	if err != nil {
		return size, err
	}
	return size + n, nil
}

// FromLine reads the "From " line of the message at off in an mbox and
// returns it without "From " and the line end, as MboxMessage.FromLine
// has it; "" when there is none.
func FromLine(f io.ReaderAt, off int64) string {
	r := bufio.NewReader(io.NewSectionReader(f, off, math.MaxInt64-off))
	l, _ := r.ReadBytes('\n')
	if l = trimEOL(l); len(l) < 5 || !bytes.HasPrefix(l, []byte("From ")) {
		return ""
	}
	return string(l[5:])
}

// ReadMessage reads the message of n bytes at off in an mbox and
// returns it as stored, header and body, without its "From " line and
// with mboxrd quoting undone.
func ReadMessage(f io.ReaderAt, off, n int64) ([]byte, error) {
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, err
	}
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		buf = buf[i+1:]
	} else {
		buf = nil
	}
	out := make([]byte, 0, len(buf))
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		line := buf
		if i >= 0 {
			line = buf[:i+1]
		}
		buf = buf[len(line):]
		out = append(out, Unquote(line)...)
	}
	return out, nil
}
