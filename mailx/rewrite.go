package mailx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"homepost/maildir"
	"homepost/safeio"
)

func syncDir(dir string) error { return safeio.SyncDir(dir) }

// appendMbox appends one message to an mbox (or a Maildir) under the
// delivery locks.
func appendMbox(path, sender string, t time.Time, header, body []byte) error {
	if isMaildir(path) {
		return deliverCopy(path, append(bytes.Clone(header), body...))
	}
	return maildir.Mbox(path).Append(sender, t, header, bytes.NewReader(body))
}

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

// errChanged means another program rewrote the mbox while it was open.
var errChanged = errors.New("the mailbox was changed by another program; changes not saved")

// applyMbox rewrites the mbox when anything changed: under the delivery
// locks (dotlock, fcntl, flock), it checks that the file is the one that
// was read and only grew, writes the kept messages (with updated Status
// fields; an edited one as its new text, mboxrd-quoted, under its old
// "From " line) followed by every message that arrived meanwhile to a
// temporary file in the same directory, fsyncs it, renames it over the
// mbox with the old file's mode and fsyncs the directory. The locks keep
// every other writer out until the new file is in place: a deliverer
// takes the dotlock before opening the file, so it appends to the new
// inode. It returns the number of bytes of messages that arrived.
func (s *session) applyMbox() (int, error) {
	b := s.box
	if b.f == nil {
		return 0, nil
	}
	changed := false
	for _, m := range b.Msgs {
		if s.fateOf(m) != keep || m.edited != nil || !sameStatus(m.Status, newStatus(m)) {
			changed = true
			break
		}
	}
	if !changed {
		if st, err := os.Stat(b.Path); err == nil && st.Size() > b.size {
			return 1, nil
		}
		return 0, nil
	}
	l, err := maildir.Mbox(b.Path).Lock()
	if err != nil {
		return 0, err
	}
	defer l.Unlock()
	st, err := l.F.Stat()
	if err != nil {
		return 0, err
	}
	old, err := b.f.Stat()
	if err != nil {
		return 0, err
	}
	if !os.SameFile(st, old) || st.Size() < b.size {
		return 0, fmt.Errorf("%s: %w", b.Path, errChanged)
	}
	tailLen := st.Size() - b.size

	dir := filepath.Dir(b.Path)
	tmp, err := createTemp(dir, "."+filepath.Base(b.Path)+".homepost*")
	inPlace := false
	if errors.Is(err, os.ErrPermission) {
		// A spool directory the user may not create files in
		// (/var/mail): the new contents go to a private temporary
		// file, then over the mbox in place, as mailx does there.
		tmp, err = os.CreateTemp("", "homepost-mbox-*")
		inPlace = true
	}
	if err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", b.Path, err)
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
	for _, m := range b.Msgs {
		if s.fateOf(m) != keep {
			continue
		}
		if m.edited != nil {
			// mboxEntry ends in a newline, and so does what
			// writeWithStatus copies of it.
			if _, err := writeWithStatus(w, br, bytes.NewReader(mboxEntry(m.FromLine, m.edited)), newStatus(m)); err != nil {
				return 0, fmt.Errorf("rewrite %s: %w", b.Path, err)
			}
			w.WriteByte('\n')
			continue
		}
		bodyCopied, err := writeWithStatus(w, br, io.NewSectionReader(b.f, m.Off, m.Len), newStatus(m))
		if err != nil {
			return 0, fmt.Errorf("rewrite %s: %w", b.Path, err)
		}
		// An empty line separates messages; a body whose last line
		// has no newline (the end of a file) gets one first.
		var last [1]byte
		if _, err := b.f.ReadAt(last[:], m.Off+m.Len-1); bodyCopied && err == nil && last[0] != '\n' {
			w.WriteByte('\n')
		}
		w.WriteByte('\n')
	}
	if tailLen > 0 {
		tail := bufio.NewReader(io.NewSectionReader(l.F, b.size, tailLen))
		// Skip the empty lines Append put before the new message.
		for {
			c, err := tail.Peek(1)
			if err != nil || (c[0] != '\n' && c[0] != '\r') {
				break
			}
			tail.ReadByte()
		}
		if _, err := io.Copy(w, tail); err != nil {
			return 0, fmt.Errorf("rewrite %s: %w", b.Path, err)
		}
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", b.Path, err)
	}
	if inPlace {
		return int(tailLen), copyOver(l.F, tmp)
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", b.Path, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), b.Path); err != nil {
		return 0, fmt.Errorf("rewrite %s: %w", b.Path, err)
	}
	ok = true
	if err := safeio.SyncDir(dir); err != nil {
		return 0, err
	}
	return int(tailLen), nil
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
