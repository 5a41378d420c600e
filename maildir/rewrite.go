package maildir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"

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
}

// Rewrite replaces the mbox's contents with the messages kept, in the
// order given, followed by every message that arrived after what was
// read; it returns the number of bytes that arrived. old and read are
// what Open (or ScanAppended) returned.
//
// Under the delivery locks (dotlock, fcntl, flock) it checks that the
// file is the one that was read and still begins with the bytes read
// (else ErrChanged: another program rewrote it, and the offsets read
// no longer hold even when it did not shrink), writes
// the new contents to a temporary file in the same directory, fsyncs
// it, renames it over the mbox with the old file's mode and fsyncs the
// directory. The locks keep every other writer out until the new file
// is in place: a deliverer takes the dotlock before opening the file,
// so it appends to the new inode. In a directory the user may not
// create files in (a /var/mail spool) the new contents are written to a
// private temporary file first, then over the mbox in place, as mailx
// does there.
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
		// Read through a symbolic link: the file it names is rewritten,
		// in its own directory, under its locks; a file renamed over
		// the link would replace the link, leaving the real mbox as it
		// was.
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
	if prepare != nil {
		if err := prepare(); err != nil {
			return 0, err
		}
	}
	size := read.Size
	tailLen := st.Size() - size

	dir := filepath.Dir(path)
	tmp, err := createTemp(dir, "."+filepath.Base(path)+".homepost*")
	inPlace := false
	if errors.Is(err, os.ErrPermission) {
		tmp, err = os.CreateTemp("", "homepost-mbox-*")
		inPlace = true
	}
	if err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(tmp, 1<<20)
	br := bufio.NewReaderSize(nil, 64<<10)
	for k := range keep {
		if k.Text != nil {
			// mboxEntry ends in a newline, and so does what
			// writeWithStatus copies of it.
			if _, err := writeWithStatus(w, br, bytes.NewReader(mboxEntry(k.FromLine, k.Text)), k.Status); err != nil {
				return 0, fmt.Errorf("rewrite %s: %w", path, err)
			}
			w.WriteByte('\n')
			continue
		}
		bodyCopied, err := writeWithStatus(w, br, io.NewSectionReader(old, k.Off, k.Len), k.Status)
		if err != nil {
			return 0, fmt.Errorf("rewrite %s: %w", path, err)
		}
		// An empty line separates messages; a body whose last line
		// has no newline (the end of a file) gets one first.
		var last [1]byte
		if _, err := old.ReadAt(last[:], k.Off+k.Len-1); bodyCopied && err == nil && last[0] != '\n' {
			w.WriteByte('\n')
		}
		w.WriteByte('\n')
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
			return 0, fmt.Errorf("rewrite %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", path, err)
	}
	if inPlace {
		return tailLen, copyOver(l.F, tmp)
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", path, err)
	}
	ok = true
	if err := safeio.SyncDir(dir); err != nil {
		return 0, err
	}
	return tailLen, nil
}

// createTemp is os.CreateTemp; tests replace it to act as a user who
// may not create files in the mbox's directory.
var createTemp = os.CreateTemp

// copyOver replaces the contents of the locked mbox f with those of tmp
// (fully written): write from the start, cut to length, fsync.
func copyOver(f, tmp *os.File) error {
	n, err := tmp.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.NewOffsetWriter(f, 0), io.NewSectionReader(tmp, 0, n)); err != nil {
		return fmt.Errorf("rewrite %s: %w", f.Name(), err)
	}
	if err := f.Truncate(n); err != nil {
		return fmt.Errorf("rewrite %s: %w", f.Name(), err)
	}
	return f.Sync()
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
// what it wrote ends with a newline.
func writeWithStatus(w *bufio.Writer, br *bufio.Reader, r io.Reader, status string) (bool, error) {
	br.Reset(r)
	first := true
	skipping := false
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
			w.WriteString("Status: " + status + "\n")
			return false, nil
		}
		if first {
			first = false
			w.Write(line)
			if err != nil {
				w.WriteString("\nStatus: " + status + "\n")
				return false, nil
			}
			continue
		}
		if skipping && (line[0] == ' ' || line[0] == '\t') {
			continue
		}
		skipping = false
		if isBlank(line) || string(line) == "\r" {
			w.WriteString("Status: " + status + "\n")
			w.Write(line)
			if string(line) == "\r" {
				// A CR cut off by the end of the file: the
				// empty line that ends the header.
				w.WriteByte('\n')
				return false, nil
			}
			break
		}
		if len(line) >= 7 && bytes.EqualFold(line[:7], []byte("status:")) {
			skipping = true
			if err != nil {
				w.WriteString("Status: " + status + "\n")
				return false, nil
			}
			continue
		}
		w.Write(line)
		if err != nil {
			if line[len(line)-1] != '\n' {
				w.WriteByte('\n')
			}
			w.WriteString("Status: " + status + "\n")
			return false, nil
		}
	}
	_, err := io.Copy(w, br)
	return true, err
}
