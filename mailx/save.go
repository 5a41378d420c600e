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

	"homepost/maildir"
)

func (s *session) cmdSave(arg string) error { return s.saveCmd(arg, true, true) }
func (s *session) cmdCopy(arg string) error { return s.saveCmd(arg, true, false) }

// cmdWrite is w. It does not mark the messages saved, as s-nail's does
// not: the file has no header, so a message that left the store on quit
// would keep only its body. (POSIX has write remove them as save does.)
func (s *session) cmdWrite(arg string) error {
	return s.saveCmd(arg, false, false)
}

// saveCmd appends messages to a file: with header as mbox messages (s,
// c) — or into a Maildir when the name is one — or, for w, only their
// bodies as plain text. s marks the messages saved ('*'), so that
// quit removes them from the system mailbox unless keepsave is set.
func (s *session) saveCmd(arg string, withHeader, mark bool) error {
	list, file := s.splitListArg(arg, "file")
	if file == "" {
		return errors.New("No file specified.")
	}
	idx, err := s.sel().resolve(list, undeletedOnly)
	if err != nil {
		return err
	}
	path := s.expandFolder(file)
	_, statErr := os.Stat(path)
	isNew := errors.Is(statErr, os.ErrNotExist)
	if isNew && withHeader {
		if err := s.parentExists(path); err != nil {
			return err
		}
	}
	var lines int
	var size int64
	var to *appender
	if withHeader && !maildir.IsMaildir(path) {
		// One lock and one note for all the messages.
		if to, err = s.openAppender(path); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		defer to.close()
	}
	for _, i := range idx {
		m := s.box.Msgs[i]
		var n int
		var sz int64
		if withHeader {
			n, sz, err = s.appendMessage(to, m, path, "")
		} else {
			n, sz, err = s.appendBody(m, path)
		}
		lines += n
		size += sz
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		if mark {
			m.flags |= fSaved
		}
		m.flags |= fTouched
		s.dot = i
	}
	state := "[Appended]"
	if isNew {
		state = "[New file]"
	}
	fmt.Fprintf(s.out, "\"%s\" %s %d/%d\n", file, state, lines, size)
	return nil
}

// parentExists refuses a new mailbox whose directory does not exist, as
// mailx and s-nail do ("No such file or directory"): a mistyped path
// (s 1 ~/mial/archive) would otherwise make the directories and file the
// message where the user does not look, and quit then removes it from
// the mailbox. The folder directory itself (+name) is made when missing.
func (s *session) parentExists(path string) error {
	dir := filepath.Dir(strings.TrimSuffix(path, "/"))
	if dir == filepath.Clean(s.folderDir()) {
		return nil
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: no such directory: %s (nothing saved)", path, dir)
	}
	return nil
}

func (s *session) cmdSaveAuthor(arg string) error { return s.saveAuthor(arg, true) }
func (s *session) cmdCopyAuthor(arg string) error { return s.saveAuthor(arg, false) }

// saveAuthor is Save and Copy: each message goes to a file named after
// the login name of its sender, in the folder directory when outfolder
// is set, as POSIX describes.
func (s *session) saveAuthor(arg string, mark bool) error {
	list, err := s.sel().resolve(arg, undeletedOnly)
	if err != nil {
		return err
	}
	for _, i := range list {
		name, ok := loginFileName(s.box.Msgs[i].sender())
		if !ok {
			return fmt.Errorf("message %d: no sender to name a file after", i+1)
		}
		if s.set.isSet("outfolder") {
			name = "+" + name
		}
		if err := s.saveCmd(fmt.Sprintf("%d %s", i+1, name), true, mark); err != nil {
			return err
		}
	}
	return nil
}

// appendMessage appends m, read as a stream, to the mailbox at path: a
// new file in it when it is a Maildir, else a message at the end of an
// mbox through to (openAppender on path), with a "From " line that
// carries its envelope. It returns the lines and bytes of the message.
// A status other than "" replaces the Status fields of a message
// appended to an mbox (quit's move to MBOX: a message read stays read
// there).
func (s *session) appendMessage(to *appender, m *Msg, path, status string) (int, int64, error) {
	r, err := s.box.Open(m)
	if errors.Is(err, os.ErrNotExist) && s.box.Kind == "maildir" {
		// Neither at its name nor renamed in new/ or cur/ (Open
		// looks): another program removed it. Nothing is written.
		return 0, 0, fmt.Errorf("%w: %w", errRemoved, err)
	}
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	// The header is held (up to maxHeldHeader) for the envelope; the
	// rest streams after it.
	header, _, err := readHeaderSection(br, maxHeldHeader)
	if err != nil {
		return 0, 0, err
	}
	c := &lineCounter{w: io.Discard}
	c.Write(header)
	body := io.TeeReader(br, c)
	if maildir.IsMaildir(path) {
		d := maildir.Dir(path)
		if err := d.Deliver(maildir.UniqueName(), header, body); err != nil {
			return 0, 0, err
		}
		err = d.Sync()
		return c.lines(), c.n, err
	}
	sender, t := s.box.envelope(m, header)
	if status != "" && len(header) < maxHeldHeader {
		header = withStatus(header, status)
	}
	// The copy is measured first (the record of the append, see
	// appendMbox), then written: the second pass reads the message
	// again.
	var again io.Closer
	defer func() {
		if again != nil {
			again.Close()
		}
	}()
	passes := 0
	bodies := func() io.Reader {
		passes++
		if passes == 1 {
			return body
		}
		r, err := s.box.Open(m)
		if err != nil {
			return errReader{err}
		}
		again = r
		br := bufio.NewReaderSize(r, 64<<10)
		if _, _, err := readHeaderSection(br, maxHeldHeader); err != nil {
			return errReader{err}
		}
		return br
	}
	if to == nil {
		if to, err = s.openAppender(path); err != nil {
			return 0, 0, err
		}
		defer to.close()
	}
	err = to.append(sender, t, header, bodies)
	return c.lines(), c.n, err
}

// errRemoved marks a Maildir message that another program removed
// while mail ran, which appendMessage could therefore not copy.
var errRemoved = errors.New("removed by another program")

// errReader is a reader that fails with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// withStatus returns a header section (as readHeaderSection holds it)
// with its Status fields replaced by one holding status, placed before
// the empty line that ends the section, in the section's line ending.
func withStatus(header []byte, status string) []byte {
	out := make([]byte, 0, len(header)+16)
	eol := "\n"
	skipping := false
	placed := false
	for rest := header; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if bytes.HasSuffix(line, []byte("\r\n")) {
			eol = "\r\n"
		}
		if skipping && (line[0] == ' ' || line[0] == '\t') {
			continue
		}
		skipping = false
		if isBlank(line) {
			// The end of the header section: the rest is not
			// header.
			out = append(out, "Status: "+status+eol...)
			out = append(out, line...)
			out = append(out, rest...)
			placed = true
			break
		}
		if len(line) >= 7 && bytes.EqualFold(line[:7], []byte("status:")) {
			skipping = true
			continue
		}
		out = append(out, line...)
	}
	if !placed {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, eol...)
		}
		out = append(out, "Status: "+status+eol...)
	}
	return out
}

// appendBody appends the body of m (what follows the header section) to
// the file at path, which it creates if need be, and returns its lines
// and bytes.
func (s *session) appendBody(m *Msg, path string) (int, int64, error) {
	r, err := s.box.Open(m)
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	var body io.Reader = br
	if err := skipHeader(br); err == io.EOF {
		body = strings.NewReader("")
	} else if err != nil {
		return 0, 0, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, 0, err
	}
	c := &lineCounter{w: f}
	if _, err := io.Copy(c, body); err != nil {
		f.Close()
		return 0, 0, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, 0, err
	}
	return c.lines(), c.n, f.Close()
}
