package mailx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"homepost/maildir"
)

// editorFor names the editor of edit and ~e (the EDITOR variable,
// default ed) or of visual and ~v (VISUAL, default vi), as POSIX says.
// A variable set in the session or a start-up file wins over the
// environment, so that "set EDITOR=..." works for one session.
func (e *env) editorFor(visual bool) string {
	name, def := "EDITOR", "ed"
	if visual {
		name, def = "VISUAL", "vi"
	}
	if v := e.set.get(name); v != "" {
		return v
	}
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// errEditorFailed means the editor exited with a non-zero status: the
// user gave up (vi's :cq), so what it left in the file is not used.
var errEditorFailed = errors.New("the editor failed")

// runEditor writes text to a private temporary file (mode 0600, in
// $TMPDIR) as it reads it, runs the editor on it with the terminal and
// returns the file, open for reading from its start, with what it holds
// afterwards; the caller closes it (its name is already removed). The
// text is never whole in memory. The editor command is run by the
// shell, so EDITOR may carry options ("emacs -nw").
func (e *env) runEditor(editor string, text io.Reader) (*os.File, error) {
	f, err := os.CreateTemp("", "homepost-edit-*")
	if err != nil {
		return nil, fmt.Errorf("edit: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, text); err != nil {
		f.Close()
		return nil, fmt.Errorf("edit: write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("edit: %w", err)
	}
	if err := e.runShell(editor+` "$1"`, f.Name()); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%s: %w (%v)", editor, errEditorFailed, err)
		}
		return nil, fmt.Errorf("%s: %w", editor, err)
	}
	// The editor may have replaced the file: it is opened anew.
	out, err := os.Open(f.Name())
	if err != nil {
		return nil, fmt.Errorf("edit: %w", err)
	}
	return out, nil
}

// sameText reports whether a and b read the same bytes, reading both
// a buffer at a time.
func sameText(a, b io.Reader) (bool, error) {
	const size = 64 << 10
	ba, bb := make([]byte, size), make([]byte, size)
	for {
		na, erra := io.ReadFull(a, ba)
		nb, errb := io.ReadFull(b, bb)
		if erra != nil && erra != io.EOF && erra != io.ErrUnexpectedEOF {
			return false, erra
		}
		if errb != nil && errb != io.EOF && errb != io.ErrUnexpectedEOF {
			return false, errb
		}
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if erra != nil || errb != nil {
			return erra != nil && errb != nil, nil
		}
	}
}

func (s *session) cmdEdit(arg string) error   { return s.editMessages(arg, false) }
func (s *session) cmdVisual(arg string) error { return s.editMessages(arg, true) }

// editMessages runs the editor on each message of a list in turn. The
// edited text replaces the message for the rest of the session and is
// written to the mailbox on quit (never by exit), like every other
// change. A message the editor fails on, or leaves as it was, stays as
// it was; a failure also ends the list, since it is how a user gives
// up.
func (s *session) editMessages(arg string, visual bool) error {
	list, err := s.sel().resolve(arg, undeletedOnly)
	if err != nil {
		return err
	}
	editor := s.editorFor(visual)
	for _, i := range list {
		m := s.box.Msgs[i]
		s.dot = i
		if err := s.editMessage(m, editor); err != nil {
			return err
		}
	}
	return nil
}

// editMessage runs the editor on m. The message goes to the editor's
// file as it is read, and is compared with what the editor left there
// as both are read: a message only looked at in the editor is never
// whole in memory. An edited text is held (see Box.edits).
func (s *session) editMessage(m *Msg, editor string) error {
	r, err := s.box.Open(m)
	if err != nil {
		return err
	}
	f, err := s.runEditor(editor, r)
	r.Close()
	if err != nil {
		return fmt.Errorf("%w; message %d left as it was", err, m.Num)
	}
	defer f.Close()
	r, err = s.box.Open(m)
	if err != nil {
		return err
	}
	same, err := sameText(f, r)
	r.Close()
	if err != nil {
		return fmt.Errorf("edit: %w; message %d left as it was", err, m.Num)
	}
	if same {
		return nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("edit: %w; message %d left as it was", err, m.Num)
	}
	text, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("edit: %w; message %d left as it was", err, m.Num)
	}
	s.box.setEdited(m, text)
	return nil
}

// setEdited makes text m's content and refreshes what the header
// summary shows from it; the date column keeps an mbox message's "From "
// line date, and a Maildir message without a Date field shows its
// file's time, as when the mailbox was listed.
func (b *Box) setEdited(m *Msg, text []byte) {
	edited := bytes.Clone(text)
	var h hscan
	h.reset()
	if scanHeaderBlock(edited, &h) < 0 {
		// No empty line ends the header: the whole text is header,
		// its last line too when no newline ends it.
		if i := bytes.LastIndexByte(edited, '\n'); i+1 < len(edited) {
			h.line(edited[i+1:])
		}
	}
	var fromLine []byte
	dir := ""
	if b.Kind == "maildir" {
		dir = b.Path
	} else {
		fromLine = []byte(b.fromLine(m))
	}
	m.sum = string(h.summarize(m, fromLine, dir))
	if edited == nil {
		edited = []byte{}
	}
	if b.edits == nil {
		b.edits = map[*Msg][]byte{}
	}
	b.edits[m] = edited
	m.flags |= fEdited
	m.Size = int64(len(edited))
	m.Lines = int32(countLines(edited))
}

// writeBackMaildir replaces the file of an edited Maildir message with
// its new text (see maildir.Dir.Replace: tmp/, fsync, rename over the
// old name, same name, mode and modification time). The caller fsyncs
// the directory.
func (b *Box) writeBackMaildir(m *Msg) error {
	d := maildir.Dir(b.Path)
	err := d.Replace(m.entry(), b.edited(m))
	if errors.Is(err, os.ErrNotExist) && b.relocate(m) {
		err = d.Replace(m.entry(), b.edited(m))
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("message %d: removed by another program; the edited text is not saved", m.Num)
	}
	if err != nil {
		return fmt.Errorf("message %d: %w", m.Num, err)
	}
	return nil
}
