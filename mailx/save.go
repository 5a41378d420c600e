package mailx

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"homepost/maildir"
)

func (s *session) cmdSave(arg string) error { return s.saveCmd(arg, true, true) }
func (s *session) cmdCopy(arg string) error { return s.saveCmd(arg, true, false) }
func (s *session) cmdWrite(arg string) error {
	return s.saveCmd(arg, false, true)
}

// saveCmd appends messages to a file: with header as mbox messages (s,
// c) — or into a Maildir when the name is one — or, for w, only their
// bodies as plain text. s and w mark the messages saved ('*'), so that
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
	var lines, size int
	for _, i := range idx {
		m := s.box.Msgs[i]
		raw, err := s.box.Raw(m)
		if err != nil {
			return err
		}
		header, body := splitMessage(raw)
		switch {
		case !withHeader:
			err = appendFile(path, body)
			lines += countLines(body)
			size += len(body)
		case maildir.IsMaildir(path):
			err = maildir.Dir(path).Store(raw)
			lines += countLines(raw)
			size += len(raw)
		default:
			sender, t := s.box.envelope(m, header)
			err = maildir.Mbox(path).Append(sender, t, header, bytes.NewReader(body))
			lines += countLines(raw)
			size += len(raw)
		}
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

func appendFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
