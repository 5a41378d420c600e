package maildir

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"homepost/safeio"
)

// Kept is a message that a rewrite keeps.
type Kept struct {
	// Off and Len are where the message is in the file as it was read
	// (MboxMessage's Off and Len).
	Off, Len int64
	// Status is the Status field it gets ("RO" read, "O" old).
	Status string
	// Text, when not nil, replaces the stored message: header and body
	// with LF line ends, written mboxrd-quoted under "From " FromLine.
	Text     []byte
	FromLine string
	// AsIs keeps the message byte for byte, its Status field as it is
	// (Status is not used): a rewrite that only removes messages, as
	// mail's completion of a move a crash interrupted.
	AsIs bool
}

// Rewrite replaces the mbox's contents with the messages kept, in the
// order given, followed by every message that arrived after what was
// read; it returns the number of bytes that arrived. old and read are
// what Open (or ScanAppended) returned.
//
// Under the delivery locks (dotlock, fcntl, flock) it checks that the
// file is the one that was read and still begins with the bytes read
// (else ErrChanged: another program rewrote it, and the offsets read
// no longer hold even when it did not shrink), then writes the new
// contents over the same file, in place, as mutt, s-nail and BSD mailx
// do. A rename of a new file over the mbox would lose mail: mutt and
// s-nail open an mbox before they lock it to save into it, so a save
// that waits for the locks would then append to the file renamed away.
//
// In place, and crash-safe, in these steps:
//
//  1. The new contents are compared with the mbox as they are made;
//     from the first byte that differs on they go to a record file
//     beside the mbox (".NAME.homepost-rewrite"), or, where its
//     directory takes no new file (a /var/mail spool, a full disk),
//     in ~/.local/state/homepost/mbox-rewrite/FSID-INO (see recordDirs);
//     after them, the table of the bytes they go over, as they are (a
//     sum for each 512 bytes, which tells them from what another
//     program may write there after a crash).
//  2. Room for a longer file is allocated (fallocate); without it the
//     rewrite is refused and nothing has changed.
//  3. prepare (RewriteWith) runs.
//  4. The record's header (offset, new and old size, file system id
//     and inode, SHA-256 of the unchanged prefix, of the old tail, of
//     the new bytes and of the table) is written, the record and its
//     directory fsynced.
//  5. A growing file is made its new size and fsynced; the new bytes
//     are written from the first changed one, in pieces that begin and
//     end at multiples of 64 KiB (see blockSize), and fsynced; a
//     shrinking file is then cut and fsynced; the record is removed
//     and its directory fsynced.
//
// A crash before step 4 is complete leaves the mbox untouched, and the
// incomplete record is discarded; after it, the next program that locks
// the mbox (a delivery, mail, Rewrite) finishes the rewrite first (see
// Locked.recover, which says what another program may have done to the
// mbox between the crash and then). An error in step 5 keeps the record
// for the same end. Messages that arrive while Rewrite runs wait for
// the locks, and are appended to the rewritten file.
func (m Mbox) Rewrite(old *os.File, read Scanned, keep iter.Seq[Kept]) (int64, error) {
	return m.RewriteWith(old, read, keep, nil)
}

// RewriteWith is Rewrite with a step, prepare, run under the mbox's
// locks once the mbox is known to be the file read and unchanged, and
// before anything is written: mail appends the messages bound for
// ~/mbox there, so that they are copied only when the rewrite that
// removes them from the mailbox can go ahead. An error from prepare
// is returned as it is, and the mbox is left unchanged. prepare may
// lock other mboxes, not this one. A nil prepare is Rewrite.
func (m Mbox) RewriteWith(old *os.File, read Scanned, keep iter.Seq[Kept], prepare func() error) (int64, error) {
	path := string(m)
	if real, err := filepath.EvalSymlinks(path); err == nil && real != filepath.Clean(path) {
		// Read through a symbolic link: the file it names is rewritten
		// under its own locks, its record kept beside it, where the
		// next Lock of that file looks for it.
		return Mbox(real).RewriteWith(old, read, keep, prepare)
	}
	l, err := m.Lock()
	if err != nil {
		return 0, err
	}
	defer l.Unlock()
	st, err := l.F.Stat()
	if err != nil {
		return 0, err
	}
	if _, _, err := m.check(l.F, old, read); err != nil {
		if errors.Is(err, ErrChanged) {
			return 0, fmt.Errorf("%s: %w; changes not saved", path, err)
		}
		return 0, fmt.Errorf("rewrite %s: %w", path, err)
	}
	size := read.Size
	cur := st.Size()
	tailLen := cur - size

	// The new contents are compared with the mbox as they are made;
	// from the first byte that differs on, they go to the record.
	dw := &diffWriter{f: l.F, size: cur, prefix: sha256.New(), data: sha256.New(), path: path}
	defer func() {
		if dw.rec != nil {
			dw.rec.Close()
			if !dw.keep {
				removeRecord(dw.name)
			}
		}
	}()
	w := bufio.NewWriterSize(dw, 1<<20)
	br := bufio.NewReaderSize(nil, 64<<10)
	for k := range keep {
		if k.Text != nil {
			// mboxEntry ends in a newline, and so does what
			// writeWithStatus copies of it.
			if _, _, err := writeWithStatus(w, br, bytes.NewReader(mboxEntry(k.FromLine, k.Text)), k.Status); err != nil {
				return 0, fmt.Errorf("rewrite %s: %w; nothing changed", path, err)
			}
			w.WriteByte('\n')
			continue
		}
		if k.AsIs {
			if err := copyAsIs(w, old, k.Off, k.Len); err != nil {
				return 0, fmt.Errorf("rewrite %s: %w; nothing changed", path, err)
			}
			continue
		}
		bodyCopied, eol, err := writeWithStatus(w, br, io.NewSectionReader(old, k.Off, k.Len), k.Status)
		if err != nil {
			return 0, fmt.Errorf("rewrite %s: %w; nothing changed", path, err)
		}
		// An empty line separates messages, with the message's line
		// end; a body whose last line has no newline (the end of a
		// file) gets one first.
		var last [1]byte
		if _, err := old.ReadAt(last[:], k.Off+k.Len-1); bodyCopied && err == nil && last[0] != '\n' {
			w.WriteString(eol)
		}
		w.WriteString(eol)
	}
	if tailLen > 0 {
		tail := bufio.NewReader(io.NewSectionReader(l.F, size, tailLen))
		// Skip the empty lines Append put before the new message.
		for {
			c, err := tail.Peek(1)
			if err != nil || (c[0] != '\n' && c[0] != '\r') {
				break
			}
			tail.ReadByte()
		}
		if _, err := io.Copy(w, tail); err != nil {
			return 0, fmt.Errorf("rewrite %s: %w; nothing changed", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("rewrite %s: %w; nothing changed", path, err)
	}
	r := record{Off: dw.n, New: dw.n, Old: cur, Block: blockSize}
	if dw.rec != nil {
		r.Off = dw.off
		// The table of the bytes the rewrite writes over, as they
		// are now, after the new contents.
		if err := writeTable(writerFunc(dw.write), l.F, &r); err != nil {
			return 0, fmt.Errorf("rewrite %s: %w; nothing changed", path, err)
		}
	}
	if r.Dev, r.Ino, err = FileID(l.F); err != nil {
		return 0, fmt.Errorf("rewrite %s: %w; nothing changed", path, err)
	}
	copy(r.Prefix[:], dw.prefix.Sum(nil))
	copy(r.Data[:], dw.data.Sum(nil))
	if r.New < cur {
		if r.Tail, err = hashRange(l.F, r.New, cur-r.New); err != nil {
			return 0, fmt.Errorf("rewrite %s: %w; nothing changed", path, err)
		}
	}
	if err := reserve(l.F, cur, r.New); err != nil {
		return 0, fmt.Errorf("rewrite %s: no room for its new contents (%d bytes, %d more than now): %w; nothing changed", path, r.New, r.New-cur, err)
	}
	defer func() {
		if r.New > cur && !dw.keep {
			// Refused after all: give back the blocks reserved
			// past the end (the size, and so the contents, stay).
			l.F.Truncate(cur)
		}
	}()
	if prepare != nil {
		if err := prepare(); err != nil {
			return 0, err
		}
	}
	if dw.rec == nil {
		// Unchanged up to the new end: at most a cut, which a crash
		// leaves done or not done.
		if r.New < cur {
			if err := l.F.Truncate(r.New); err != nil {
				return 0, fmt.Errorf("rewrite %s: %w", path, err)
			}
			if err := l.F.Sync(); err != nil {
				return 0, fmt.Errorf("rewrite %s: %w", path, err)
			}
		}
		return tailLen, nil
	}
	if _, err := dw.rec.WriteAt(r.encode(), 0); err != nil {
		return 0, fmt.Errorf("rewrite %s: record %s: %w; nothing changed", path, dw.name, err)
	}
	if err := dw.rec.Sync(); err != nil {
		return 0, fmt.Errorf("rewrite %s: record %s: %w; nothing changed", path, dw.name, err)
	}
	if err := safeio.SyncDir(filepath.Dir(dw.name)); err != nil {
		return 0, fmt.Errorf("rewrite %s: record %s: %w; nothing changed", path, dw.name, err)
	}
	// From here on the record is the rewrite: kept on any error, it is
	// finished by the next program that locks the mbox.
	dw.keep = true
	if err := l.apply(dw.rec, dw.name, &r, r.New); err != nil {
		return 0, fmt.Errorf("rewrite %s: %w; the new contents are kept in %s and are written when the mailbox is next opened", path, err, dw.name)
	}
	return tailLen, nil
}

// copyAsIs copies the message at off (n bytes) of the mbox old as it
// is, then the empty line that separates it from the next, in the line
// end of its last line; a message that does not end in a newline (the
// end of a file) gets one first.
func copyAsIs(w *bufio.Writer, old *os.File, off, n int64) error {
	if _, err := io.Copy(w, io.NewSectionReader(old, off, n)); err != nil {
		return err
	}
	var last [2]byte
	k := min(n, 2)
	if k == 0 {
		return nil
	}
	if _, err := old.ReadAt(last[2-k:], off+n-k); err != nil {
		return err
	}
	switch {
	case last[1] != '\n':
		w.WriteString("\n\n")
	case last[0] == '\r':
		w.WriteString("\r\n")
	default:
		w.WriteString("\n")
	}
	return nil
}

// createRecord creates the record of a rewrite of the mbox at path
// (open as mbox): beside it, or, where its directory takes no new
// file, in the state directory (inState).
func createRecord(path string, mbox *os.File, inState bool) (*os.File, string, error) {
	if !inState {
		name := recordNextTo(path)
		f, err := createRecordNextTo(name)
		// A file of that name is not one of this user's records
		// (Lock finished or set aside those): another's, left alone.
		if err == nil || !(noRoomHere(err) || errors.Is(err, os.ErrExist)) {
			return f, name, err
		}
	}
	dev, ino, err := FileID(mbox)
	if err != nil {
		return nil, "", err
	}
	name := recordInState(dev, ino)
	if name == "" {
		return nil, "", fmt.Errorf("%s: no room beside it, and no home directory for the state directory", path)
	}
	if err := safeio.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return nil, "", err
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o600)
	return f, name, err
}

// diffWriter takes the new contents of an mbox being rewritten and
// compares them with the mbox f (size bytes): the bytes that are the
// same go into prefix; from the first one that differs (off) they go
// to a record file (see createRecord), after room for its header, and
// into data. n counts the bytes written.
type diffWriter struct {
	f            *os.File
	size         int64
	n, off       int64
	prefix, data hash.Hash
	path         string
	rec          *os.File
	name         string
	recLen       int64 // bytes written to rec
	inState      bool  // the record is in the state directory
	keep         bool  // the record is complete: never removed here
	buf          []byte
}

// toState moves a record beside the mbox that ran out of room (a full
// disk, a quota) to the state directory, which may be on another file
// system.
func (d *diffWriter) toState() error {
	rec, name, err := createRecord(d.path, d.f, true)
	if err != nil {
		return err
	}
	if n, err := io.Copy(rec, io.NewSectionReader(d.rec, 0, d.recLen)); err != nil || n != d.recLen {
		rec.Close()
		removeRecord(name)
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	d.rec.Close()
	removeRecord(d.name)
	d.rec, d.name, d.inState = rec, name, true
	return nil
}

// write writes p to the record, moving it to the state directory when
// its place has no room.
func (d *diffWriter) write(p []byte) error {
	_, err := d.rec.Write(p)
	if err != nil && !d.inState && noRoomHere(err) {
		if err = d.toState(); err == nil {
			_, err = d.rec.Write(p)
		}
	}
	if err != nil {
		return fmt.Errorf("record %s: %w", d.name, err)
	}
	d.recLen += int64(len(p))
	return nil
}

// writerFunc makes an io.Writer of a function that writes all of p or
// fails.
type writerFunc func(p []byte) error

func (w writerFunc) Write(p []byte) (int, error) {
	if err := w(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (d *diffWriter) Write(p []byte) (int, error) {
	total := len(p)
	if d.rec == nil {
		same := 0
		if avail := d.size - d.n; avail > 0 {
			k := int(min(int64(len(p)), avail))
			if cap(d.buf) < k {
				d.buf = make([]byte, k)
			}
			b := d.buf[:k]
			if _, err := d.f.ReadAt(b, d.n); err != nil {
				return 0, err
			}
			for same < k && b[same] == p[same] {
				same++
			}
		}
		d.prefix.Write(p[:same])
		d.n += int64(same)
		p = p[same:]
		if len(p) == 0 {
			return total, nil
		}
		rec, name, err := createRecord(d.path, d.f, false)
		if err != nil {
			return 0, fmt.Errorf("record the new contents: %w", err)
		}
		d.rec, d.name, d.off = rec, name, d.n
		d.inState = name != recordNextTo(d.path)
		if err := d.write(make([]byte, recordHeader)); err != nil {
			return 0, err
		}
	}
	if err := d.write(p); err != nil {
		return 0, err
	}
	d.data.Write(p)
	d.n += int64(len(p))
	return total, nil
}

// mboxEntry is a message's text in mbox form for a rewrite: its "From "
// line, then the text with mboxrd quoting (a line that starts with any
// number of '>' and "From " gains a '>'), ending in a newline.
func mboxEntry(fromLine string, text []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(fromLine) + len(text) + 16)
	b.WriteString("From " + fromLine + "\n")
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line = text[:i+1]
		}
		text = text[len(line):]
		if bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) {
			b.WriteByte('>')
		}
		b.Write(line)
	}
	if b.Bytes()[b.Len()-1] != '\n' {
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// writeWithStatus copies one mbox message (From line, header, body as
// stored, so mboxrd quoting is kept) replacing its Status field. It
// reports whether the message had a body, copied as it is; otherwise
// what it wrote ends with a newline. The Status field ends as the
// header line before it does, and eol is the line end of the message's
// last header line: CRLF in an mbox written with CRLF throughout, so
// that neither the field nor the empty line after the message is a
// bare LF among CRLF lines.
func writeWithStatus(w *bufio.Writer, br *bufio.Reader, r io.Reader, status string) (body bool, eol string, err error) {
	br.Reset(r)
	first := true
	skipping := false
	eol = "\n"
	field := func() { w.WriteString("Status: " + status + eol) }
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A huge header line: copy it through.
			w.Write(line)
			skipping = false
			continue
		}
		if len(line) == 0 && err != nil {
			// The message ended inside its header.
			field()
			return false, eol, nil
		}
		if first {
			first = false
			w.Write(line)
			if err != nil {
				w.WriteString("\n")
				field()
				return false, eol, nil
			}
			eol = lineEnd(line)
			continue
		}
		if skipping && (line[0] == ' ' || line[0] == '\t') {
			continue
		}
		skipping = false
		if isBlank(line) || string(line) == "\r" {
			field()
			w.Write(line)
			if string(line) == "\r" {
				// A CR cut off by the end of the file: the
				// empty line that ends the header.
				w.WriteByte('\n')
				return false, eol, nil
			}
			break
		}
		if len(line) >= 7 && bytes.EqualFold(line[:7], []byte("status:")) {
			skipping = true
			if err != nil {
				field()
				return false, eol, nil
			}
			continue
		}
		w.Write(line)
		if err != nil {
			if line[len(line)-1] != '\n' {
				w.WriteByte('\n')
			}
			field()
			return false, eol, nil
		}
		eol = lineEnd(line)
	}
	_, err = io.Copy(w, br)
	return true, eol, err
}

// lineEnd is the end of a line read whole: CRLF or LF.
func lineEnd(line []byte) string {
	if bytes.HasSuffix(line, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}
