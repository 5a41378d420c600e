package maildir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
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

// Scanned is what a reader has read of an mbox: its first Size bytes,
// and their digest, by which Rewrite and ScanAppended tell an mbox that
// only had mail appended from one that another program rewrote (s-nail
// and mutt rewrite in place, and a rewrite that adds Status fields
// leaves the file no smaller).
//
// The digest is only compared within the process that made it, against
// the user's own programs, not an adversary: a 64-bit maphash with this
// process's seed, which runs at memory speed. (SHA-256 made listing an
// mbox of 100,000 messages half again as slow.)
type Scanned struct {
	Size int64
	Sum  uint64
	// stamp is the file's size and times when what was read was last
	// known to be there (see Verify).
	stamp fileStamp
}

// fileStamp is what fstat tells of a file's contents: a rewrite in
// place changes its ctime and mtime, and nearly always its size.
type fileStamp struct {
	size, mtime, ctime int64
}

func stampOf(f *os.File) fileStamp {
	st, err := f.Stat()
	if err != nil {
		return fileStamp{}
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStamp{}
	}
	return fileStamp{size: st.Size(), mtime: sys.Mtim.Nano(), ctime: sys.Ctim.Nano()}
}

// Verify reports whether the messages read from the mbox file f (what
// Open or ScanAppended returned, with read) are still where they were
// read: mutt, s-nail and mail itself rewrite an mbox in place, and then
// the offsets read point into other messages of the same file. A reader
// calls it before it reads a message by its offset, and keeps the
// Scanned it returns. It is one fstat while the file's size and times
// are those it last verified; otherwise, under the delivery locks, it
// checks (as Rewrite does) that f is still the file at the mbox's path
// and begins with the bytes read: else ErrChanged. Mail appended since
// is no change. A rewrite in place to the same size within the clock
// tick of the last check (file times are coarse) goes unseen until the
// next one.
func (m Mbox) Verify(f *os.File, read Scanned) (Scanned, error) {
	now := stampOf(f)
	if now == read.stamp && now != (fileStamp{}) {
		return read, nil
	}
	l, err := m.lockForReading()
	if err != nil {
		return read, err
	}
	cur := f
	if l != nil {
		defer l.Unlock()
		cur = l.F
	}
	if _, _, err := m.check(cur, f, read); err != nil {
		return read, err
	}
	// Under the locks: nothing changes the file until they are
	// released.
	read.stamp = stampOf(f)
	return read, nil
}

// scanSeed seeds the digests of Scanned for this process.
var scanSeed = maphash.MakeSeed()

// newScanHash returns a hash for Scanned's digest.
func newScanHash() *maphash.Hash {
	h := &maphash.Hash{}
	h.SetSeed(scanSeed)
	return h
}

// Open opens and scans an mbox (see ScanMbox) and returns the open file
// and what was scanned. It holds the delivery locks while it scans, so
// that a message being appended is either wholly in the scan or wholly
// after it; a file it may not lock (a read-only archive) is scanned
// without. The file stays open: messages are read from it by offset
// (ReadMessage), so that a rewrite by another program cannot mix up
// what a reader shows. A missing mbox is an error that wraps
// os.ErrNotExist.
func (m Mbox) Open(fn ScanFunc) (*os.File, Scanned, error) {
	path := string(m)
	if _, err := os.Stat(path); err != nil {
		return nil, Scanned{}, err
	}
	l, err := m.lockForReading()
	if err != nil {
		return nil, Scanned{}, err
	}
	if l != nil {
		defer l.Unlock()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, Scanned{}, err
	}
	// Taken before the scan: without the locks, a change during it
	// makes the next Verify check.
	stamp := stampOf(f)
	h := newScanHash()
	size, err := ScanMbox(io.TeeReader(f, h), fn)
	if err != nil {
		f.Close()
		return nil, Scanned{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, Scanned{Size: size, Sum: h.Sum64(), stamp: stamp}, nil
}

// unchanged reports whether the first read.Size bytes of f are still
// those that were scanned (f is at least that long). It reads them
// again into h, which it leaves holding their digest.
func unchanged(f *os.File, read Scanned, h *maphash.Hash) (bool, error) {
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, read.Size)); err != nil {
		return false, err
	}
	return h.Sum64() == read.Sum, nil
}

// check confirms, under the delivery locks, that the file at the mbox's
// path is f, the one that was read, and that its first read.Size bytes
// are those that were read (else ErrChanged): the offsets read before
// still hold, and whatever follows was appended. It returns the current
// size and, when it was read again, a hash holding the digest of the
// prefix.
func (m Mbox) check(cur, f *os.File, read Scanned) (int64, *maphash.Hash, error) {
	st, err := cur.Stat()
	if err != nil {
		return 0, nil, err
	}
	old, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	if !os.SameFile(st, old) || st.Size() < read.Size {
		return 0, nil, ErrChanged
	}
	h := newScanHash()
	same, err := unchanged(cur, read, h)
	if err != nil {
		return 0, nil, err
	}
	if !same {
		return 0, nil, ErrChanged
	}
	return st.Size(), h, nil
}

// Appended reports how many bytes were appended to the mbox after what
// was read; ErrChanged when it is not the file read, or its first
// read.Size bytes are not those read (see check).
func (m Mbox) Appended(f *os.File, read Scanned) (int64, error) {
	st, err := os.Stat(string(m))
	if err != nil {
		return 0, err
	}
	if st.Size() == read.Size {
		return 0, nil
	}
	l, err := m.lockForReading()
	if err != nil {
		return 0, err
	}
	cur := f
	if l != nil {
		defer l.Unlock()
		cur = l.F
	}
	size, _, err := m.check(cur, f, read)
	if err != nil {
		return 0, err
	}
	return size - read.Size, nil
}

// ScanAppended scans what was appended to the mbox after the part of f
// that was read (Open returned f and read), under the delivery locks as
// Open scanned, and returns what is scanned now. The offsets fn sees
// count from the start of the file. The file must still be the one
// that was read and begin with the bytes read (else ErrChanged): a
// program that rewrote it meanwhile makes every offset read before
// wrong, even when the file did not shrink.
func (m Mbox) ScanAppended(f *os.File, read Scanned, fn ScanFunc) (Scanned, error) {
	l, err := m.lockForReading()
	if err != nil {
		return read, err
	}
	if l != nil {
		defer l.Unlock()
	}
	var cur *os.File
	if l != nil {
		cur = l.F
	} else {
		if cur, err = os.Open(string(m)); err != nil {
			return read, err
		}
		defer cur.Close()
	}
	if st, err := cur.Stat(); err != nil {
		return read, err
	} else if old, err := f.Stat(); err == nil && os.SameFile(st, old) && st.Size() == read.Size {
		// Nothing appended; a rewrite of the same length is
		// caught by Rewrite.
		return read, nil
	}
	size, h, err := m.check(cur, f, read)
	if err != nil {
		return read, err
	}
	if size == read.Size {
		return read, nil
	}
	n, err := ScanMbox(io.TeeReader(io.NewSectionReader(f, read.Size, size-read.Size), h), func(msg *MboxMessage, header []byte) {
		msg.Off += read.Size
		fn(msg, header)
	})
	if err != nil {
		return read, err
	}
	out := Scanned{Size: read.Size + n, Sum: h.Sum64()}
	if l != nil && read.Size+n == size {
		out.stamp = stampOf(f)
	}
	return out, nil
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
