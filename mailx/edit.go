package mailx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
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
// $TMPDIR), runs the editor on it with the terminal and returns what
// the file holds afterwards. The editor command is run by the shell,
// so EDITOR may carry options ("emacs -nw").
func (e *env) runEditor(editor string, text []byte) ([]byte, error) {
	f, err := os.CreateTemp("", "homepost-edit-*")
	if err != nil {
		return nil, fmt.Errorf("edit: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(text); err != nil {
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
	data, err := os.ReadFile(f.Name())
	if err != nil {
		return nil, fmt.Errorf("edit: %w", err)
	}
	return data, nil
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
		raw, err := s.box.Raw(m)
		if err != nil {
			return err
		}
		text, err := s.runEditor(editor, raw)
		if err != nil {
			return fmt.Errorf("%w; message %d left as it was", err, m.Num)
		}
		if !bytes.Equal(text, raw) {
			m.setEdited(text)
		}
	}
	return nil
}

// setEdited makes text the message's content and refreshes what the
// header summary shows from it.
func (m *Msg) setEdited(text []byte) {
	m.edited = bytes.Clone(text)
	m.From, m.Subject, m.Date, m.Status, m.XStatus, m.MsgID = "", "", "", "", "", ""
	h := hscan{m: m}
	if scanHeaderBlock(m.edited, &h) < 0 {
		// No empty line ends the header: the whole text is header,
		// its last line too when no newline ends it.
		if i := bytes.LastIndexByte(m.edited, '\n'); i+1 < len(m.edited) {
			h.line(m.edited[i+1:])
		}
	}
	m.Size = int64(len(m.edited))
	m.Lines = int64(countLines(m.edited))
}

// writeBackMaildir replaces the file of an edited Maildir message with
// its new text the way a delivery stores a message: written in tmp/
// under a unique name, fsynced, then renamed over the old name, so that
// any reader sees the old message or the new one, never half of
// either. The name, and so the flags, stay; the file keeps its mode and
// modification time (the arrival time other readers show). The caller
// fsyncs the directory.
func (b *Box) writeBackMaildir(m *Msg) error {
	st, err := os.Stat(m.Path)
	if errors.Is(err, os.ErrNotExist) && b.relocate(m) {
		st, err = os.Stat(m.Path)
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("message %d: removed by another program; the edited text is not saved", m.Num)
	}
	if err != nil {
		return fmt.Errorf("message %d: %w", m.Num, err)
	}
	tmp := filepath.Join(b.Path, "tmp", uniqueName())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return fmt.Errorf("message %d: save the edited text: %w", m.Num, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(m.edited); err != nil {
		return fmt.Errorf("message %d: write %s: %w", m.Num, tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("message %d: sync %s: %w", m.Num, tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("message %d: close %s: %w", m.Num, tmp, err)
	}
	// Best effort: a reader that dates a message by its file still
	// shows when it arrived, not when it was edited.
	os.Chtimes(tmp, time.Time{}, st.ModTime())
	if err := os.Rename(tmp, m.Path); err != nil {
		return fmt.Errorf("message %d: save the edited text: %w", m.Num, err)
	}
	ok = true
	return nil
}

// mboxEntry is an edited message in mbox form for a rewrite: its "From "
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

var nameSeq int

// uniqueName is a Maildir file name no other writer uses: the time,
// microseconds, pid and a counter, and the host name.
func uniqueName() string {
	nameSeq++
	host, _ := os.Hostname()
	now := time.Now()
	return strconv.FormatInt(now.Unix(), 10) + ".M" + strconv.FormatInt(int64(now.Nanosecond()/1000), 10) +
		"P" + strconv.Itoa(os.Getpid()) + "Q" + strconv.Itoa(nameSeq) + "." + host
}
