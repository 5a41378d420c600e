package mailx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// cmd is one read-mode command.
type cmd struct {
	name string
	fn   func(s *session, arg string) error
	help string
}

// commands is searched in order for the first name that the typed word
// is a prefix of, so the order gives the short forms mailx users know
// (p print, t type, d delete, s save, r reply, h headers, f from...).
var commands []cmd

func init() {
	commands = []cmd{
		{"next", (*session).cmdNext, "print the next message (also: empty line, +)"},
		{"alias", (*session).cmdAlias, "alias NAME ADDR... define an alias; without args list them"},
		{"alternates", (*session).cmdAlternates, "alternates NAME... your other names, left out of replies; without args list them (alt)"},
		{"print", (*session).cmdPrint, "print messages (p)"},
		{"type", (*session).cmdPrint, "same as print (t)"},
		{"Type", (*session).cmdPrintAll, "print with all header fields (T)"},
		{"Print", (*session).cmdPrintAll, "print with all header fields (P)"},
		{"visual", (*session).cmdVisual, "visual [MSGS] edit messages with $VISUAL (default vi); kept on quit (v)"},
		{"top", (*session).cmdTop, "print the top lines of messages (toplines, default 5)"},
		{"touch", (*session).cmdTouch, "mark messages as read so that they move to mbox"},
		{"preserve", (*session).cmdPreserve, "keep messages in the mailbox (pre)"},
		{"delete", (*session).cmdDelete, "delete messages (d)"},
		{"dp", (*session).cmdDeletePrint, "delete, then print the next message"},
		{"dt", (*session).cmdDeletePrint, "same as dp"},
		{"undelete", (*session).cmdUndelete, "undelete messages (u)"},
		{"unset", (*session).cmdSettings, "unset variables"},
		{"mail", (*session).cmdMail, "mail ADDR... compose a message (m)"},
		{"mbox", (*session).cmdMbox, "move messages to ~/mbox on quit (mb)"},
		{"more", (*session).cmdPrint, "same as print"},
		{"page", (*session).cmdPrint, "same as print"},
		{"More", (*session).cmdPrintAll, "same as Print"},
		{"Page", (*session).cmdPrintAll, "same as Print"},
		{"unread", (*session).cmdUnread, "mark messages as not read (U)"},
		{"Unread", (*session).cmdUnread, "same as unread"},
		{"!", (*session).cmdShell, "!CMD run a shell command"},
		{"copy", (*session).cmdCopy, "copy [MSGS] FILE append to an mbox file, not marking them saved (c)"},
		{"chdir", (*session).cmdChdir, "change directory"},
		{"cd", (*session).cmdChdir, "change directory"},
		{"save", (*session).cmdSave, "save [MSGS] FILE append to an mbox file (or Maildir) (s)"},
		{"Save", (*session).cmdSaveAuthor, "Save [MSGS] save to a file named after the sender (S)"},
		{"Copy", (*session).cmdCopyAuthor, "Copy [MSGS] copy to a file named after the sender (C)"},
		{"source", (*session).cmdSource, "source FILE read commands from a file"},
		{"set", (*session).cmdSettings, "set NAME[=VALUE]... set variables; without args list them"},
		{"shell", (*session).cmdShellInteractive, "run an interactive shell"},
		{"version", (*session).cmdVersion, "print the version"},
		{"group", (*session).cmdAlias, "same as alias"},
		{"write", (*session).cmdWrite, "write [MSGS] FILE append bodies without header to a file (w)"},
		{"from", (*session).cmdFrom, "print the header summary lines of messages (f)"},
		{"file", (*session).cmdFolder, "file [NAME] switch to another mailbox, or show this one"},
		{"folder", (*session).cmdFolder, "same as file (fo)"},
		{"folders", (*session).cmdFolders, "list the folder directory"},
		{"followup", (*session).cmdFollowup, "followup [MSG] reply to the sender, keeping a copy in a file named after them (foll)"},
		{"Followup", (*session).cmdFollowupAll, "Followup [MSGS] reply to the senders, keeping a copy named after the first (F)"},
		{"?", (*session).cmdHelp, "this help"},
		{"z", (*session).cmdZ, "z show the next screenful of headers; z- the previous"},
		{"headers", (*session).cmdHeaders, "show the screenful of headers holding a message (h)"},
		{"help", (*session).cmdHelp, "this help"},
		{"=", (*session).cmdEquals, "print the current message number"},
		{"Reply", (*session).cmdReplySender, "Reply [MSGS] reply to the sender of each message only (R)"},
		{"Respond", (*session).cmdReplySender, "same as Reply"},
		{"reply", (*session).cmdReplyAll, "reply [MSG] reply to the sender and all recipients (r)"},
		{"respond", (*session).cmdReplyAll, "same as reply"},
		{"edit", (*session).cmdEdit, "edit [MSGS] edit messages with $EDITOR (default ed); kept on quit (e)"},
		{"echo", (*session).cmdEcho, "print its arguments"},
		{"quit", (*session).cmdQuit, "quit, applying deletions and flags (q)"},
		{"list", (*session).cmdList, "list the commands"},
		{"xit", (*session).cmdExit, "quit without changing the mailbox (x)"},
		{"exit", (*session).cmdExit, "same as xit (ex)"},
		{"size", (*session).cmdSize, "print the size of messages in bytes"},
		{"hold", (*session).cmdPreserve, "same as preserve (ho)"},
		{"ignore", (*session).cmdSettings, "ignore FIELD... hide header fields in print"},
		{"discard", (*session).cmdSettings, "same as ignore"},
		{"retain", (*session).cmdSettings, "retain FIELD... show only these header fields"},
		{"unalias", (*session).cmdSettings, "remove aliases"},
		{"pipe", (*session).cmdPipe, "pipe [MSGS] CMD pipe messages to a command (|)"},
		{"|", (*session).cmdPipe, "same as pipe"},
		{"new", (*session).cmdNew, "mark messages as new"},
		{"newmail", (*session).cmdInc, "same as inc"},
		{"inc", (*session).cmdInc, "add mail that arrived since the mailbox was read, and list it (newmail)"},
		{"New", (*session).cmdNew, "same as new"},
		{"#", func(*session, string) error { return nil }, "a comment"},
		{"+", (*session).cmdNext, "next message"},
		{"-", (*session).cmdPrevious, "previous message"},
	}
}

func lookupCommand(name string) *cmd {
	if name == "" {
		return &commands[0]
	}
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	for i := range commands {
		if strings.HasPrefix(commands[i].name, name) {
			return &commands[i]
		}
	}
	return nil
}

// eachMsg runs fn on every message of a list.
func (s *session) eachMsg(arg string, mode listMode, fn func(i int, m *Msg) error) error {
	list, err := s.sel().resolve(arg, mode)
	if err != nil {
		return err
	}
	for _, i := range list {
		if err := fn(i, s.box.Msgs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) cmdNext(arg string) error {
	n := len(s.box.Msgs)
	if arg != "" {
		list, err := s.sel().resolve(arg, undeletedOnly)
		if err != nil {
			return err
		}
		s.dot = list[0]
		return s.show(list[:1], false)
	}
	if s.dot < 0 {
		return errors.New("No messages")
	}
	// The first "next" of a session, or the first after a delete
	// moved the current message, shows the current message.
	if !s.shown && !s.box.Msgs[s.dot].has(fDeleted) {
		return s.show([]int{s.dot}, false)
	}
	for i := s.dot + 1; i < n; i++ {
		if !s.box.Msgs[i].has(fDeleted) {
			s.dot = i
			return s.show([]int{i}, false)
		}
	}
	return errors.New("At EOF")
}

func (s *session) cmdPrevious(arg string) error {
	for i := s.dot - 1; i >= 0; i-- {
		if !s.box.Msgs[i].has(fDeleted) {
			s.dot = i
			return s.show([]int{i}, false)
		}
	}
	return errors.New("Referencing before 1")
}

func (s *session) cmdPrint(arg string) error    { return s.printList(arg, false) }
func (s *session) cmdPrintAll(arg string) error { return s.printList(arg, true) }

func (s *session) printList(arg string, all bool) error {
	list, err := s.sel().resolve(arg, undeletedOnly)
	if err != nil {
		return err
	}
	return s.show(list, all)
}

func (s *session) cmdTouch(arg string) error {
	return s.eachMsg(arg, undeletedOnly, func(i int, m *Msg) error {
		m.flags |= fTouched | fRead
		m.flags &^= fPreserved
		return nil
	})
}

func (s *session) cmdPreserve(arg string) error {
	return s.eachMsg(arg, undeletedOnly, func(i int, m *Msg) error {
		m.flags |= fPreserved
		m.flags &^= fMbox
		s.dot = i
		return nil
	})
}

func (s *session) cmdMbox(arg string) error {
	return s.eachMsg(arg, undeletedOnly, func(i int, m *Msg) error {
		m.flags |= fMbox | fTouched
		m.flags &^= fPreserved
		return nil
	})
}

func (s *session) cmdUnread(arg string) error {
	return s.eachMsg(arg, undeletedOnly, func(i int, m *Msg) error {
		m.flags &^= fRead | fSeen | fTouched
		return nil
	})
}

func (s *session) cmdNew(arg string) error {
	return s.eachMsg(arg, undeletedOnly, func(i int, m *Msg) error {
		m.flags &^= fRead | fSeen | fTouched
		m.flags |= fNew
		return nil
	})
}

func (s *session) cmdDelete(arg string) error {
	list, err := s.sel().resolve(arg, undeletedOnly)
	if err != nil {
		return err
	}
	for _, i := range list {
		// Deleted here: removed on quit, trashed by another reader or not.
		s.box.Msgs[i].flags = s.box.Msgs[i].flags&^fTrashed | fDeleted | fTouched
	}
	s.shown = false
	// The current message becomes the first undeleted one after the
	// last deleted, else the last undeleted one before it.
	last := list[len(list)-1]
	for i := last + 1; i < len(s.box.Msgs); i++ {
		if !s.box.Msgs[i].has(fDeleted) {
			s.dot = i
			if s.set.isSet("autoprint") {
				return s.show([]int{i}, false)
			}
			return nil
		}
	}
	for i := last - 1; i >= 0; i-- {
		if !s.box.Msgs[i].has(fDeleted) {
			s.dot = i
			return nil
		}
	}
	s.dot = last
	return nil
}

func (s *session) cmdDeletePrint(arg string) error {
	before := s.dot
	if err := s.cmdDelete(arg); err != nil {
		return err
	}
	if s.box.Msgs[s.dot].has(fDeleted) || s.dot < before {
		return errors.New("At EOF")
	}
	if s.set.isSet("autoprint") {
		return nil
	}
	return s.show([]int{s.dot}, false)
}

func (s *session) cmdUndelete(arg string) error {
	return s.eachMsg(arg, deletedOnly, func(i int, m *Msg) error {
		m.flags &^= fDeleted
		s.dot = i
		return nil
	})
}

func (s *session) cmdSettings(arg string) error {
	words, err := splitWords(arg)
	if err != nil {
		return err
	}
	name, _ := splitCommand(strings.TrimSpace(s.currentLine))
	full := lookupCommand(name).name
	if full == "set" && len(words) == 0 {
		for _, v := range s.set.sortedVars() {
			fmt.Fprintln(s.out, v)
		}
		return nil
	}
	if (full == "ignore" || full == "discard" || full == "retain") && len(words) == 0 {
		m := s.set.ignore
		if full == "retain" {
			m = s.set.retain
		}
		for k := range m {
			fmt.Fprintln(s.out, k)
		}
		return nil
	}
	return s.set.apply(append([]string{full}, words...))
}

func (s *session) cmdAlias(arg string) error {
	words, err := splitWords(arg)
	if err != nil {
		return err
	}
	switch len(words) {
	case 0:
		for k, v := range s.set.aliases {
			fmt.Fprintf(s.out, "%s\t%s\n", k, strings.Join(v, " "))
		}
		return nil
	case 1:
		if v, ok := s.set.aliases[words[0]]; ok {
			fmt.Fprintf(s.out, "%s\t%s\n", words[0], strings.Join(v, " "))
			return nil
		}
		return fmt.Errorf("\"%s\": no such alias", words[0])
	}
	return s.set.apply(append([]string{"alias"}, words...))
}

func (s *session) cmdShell(arg string) error {
	if err := s.runShell(arg, ""); err != nil {
		s.warn("%v", err)
	}
	fmt.Fprintln(s.out, "!")
	return nil
}

func (s *session) cmdShellInteractive(string) error { return s.runShell(shellPath(), "") }

func (s *session) cmdChdir(arg string) error {
	if arg == "" {
		arg = s.cfg.Home
	}
	return os.Chdir(s.expandPath(arg))
}

func (s *session) cmdSource(arg string) error {
	for _, err := range s.set.loadFile(s.expandFolder(arg), 'r', true) {
		fmt.Fprintln(s.out, err)
	}
	return nil
}

func (s *session) cmdVersion(string) error {
	fmt.Fprintln(s.out, "homepost mail (POSIX mailx compatible)")
	return nil
}

func (s *session) cmdFrom(arg string) error {
	width := s.width()
	return s.eachMsg(arg, undeletedOnly, func(i int, m *Msg) error {
		s.out.WriteString(headerLine(m, i == s.dot, width) + "\n")
		return nil
	})
}

// helpGroups orders the help listing by what a command is for, as
// mailx's help does; a command of the table that no group names is
// listed under "Other".
var helpGroups = []struct {
	title string
	names []string
}{
	{"Reading", []string{"next", "+", "-", "print", "Type", "Print", "top", "headers", "z", "from", "=", "size", "inc"}},
	{"Deleting and marking", []string{"delete", "dp", "undelete", "preserve", "touch", "mbox", "unread", "new"}},
	{"Saving, piping and editing", []string{"save", "Save", "copy", "Copy", "write", "pipe", "edit", "visual"}},
	{"Sending", []string{"mail", "reply", "Reply", "followup", "Followup"}},
	{"Mailboxes and leaving", []string{"file", "folders", "quit", "xit"}},
	{"Settings", []string{"set", "unset", "alias", "unalias", "alternates", "ignore", "retain", "source"}},
	{"Other", []string{"!", "shell", "chdir", "cd", "echo", "version", "list", "help", "?", "#"}},
}

// writeHelp writes the command listing: every command that is not
// another's other name, by group.
func writeHelp(w io.Writer) {
	fmt.Fprintln(w, "Commands (MSGS is a message list: 1 2-4 * $ . :u /subject address;")
	fmt.Fprintln(w, "a short form works when no other command starts the same way):")
	listed := map[string]bool{}
	for gi, g := range helpGroups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, name := range g.names {
			if c := lookupExact(name); c != nil && !listed[name] {
				listed[name] = true
				fmt.Fprintf(w, "  %-10s %s\n", c.name, c.help)
			}
		}
		if gi < len(helpGroups)-1 {
			continue
		}
		for _, c := range commands {
			if !listed[c.name] && !strings.Contains(c.help, "same as") {
				fmt.Fprintf(w, "  %-10s %s\n", c.name, c.help)
			}
		}
	}
}

// lookupExact finds a command by its full name.
func lookupExact(name string) *cmd {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// cmdHelp prints the command listing, through the pager when it does
// not fit the terminal.
func (s *session) cmdHelp(string) error {
	var b bytes.Buffer
	writeHelp(&b)
	if s.in != nil && s.in.tty {
		if _, h := termSize(); bytes.Count(b.Bytes(), []byte{'\n'}) >= h-1 && s.runPager(b.Bytes()) == nil {
			return nil
		}
	}
	_, err := s.out.Write(b.Bytes())
	return err
}

func (s *session) cmdList(string) error {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	fmt.Fprintln(s.out, strings.Join(names, " "))
	return nil
}

func (s *session) cmdZ(arg string) error {
	size := s.screen()
	switch arg {
	case "-":
		if s.top == 0 {
			return errors.New("On first screenful of messages")
		}
		s.top = max(0, s.top-size)
	default:
		if s.top+size >= len(s.box.Msgs) {
			return errors.New("On last screenful of messages")
		}
		s.top += size
	}
	s.printPage()
	return nil
}

func (s *session) cmdHeaders(arg string) error {
	if arg == "" {
		s.headers(s.dot)
		return nil
	}
	list, err := s.sel().resolve(arg, anyMessage)
	if err != nil {
		return err
	}
	s.dot = list[0]
	s.headers(list[0])
	return nil
}

func (s *session) cmdEquals(string) error {
	if s.dot < 0 {
		return errors.New("No messages")
	}
	fmt.Fprintln(s.out, s.dot+1)
	return nil
}

func (s *session) cmdEcho(arg string) error {
	words, err := splitWords(arg)
	if err != nil {
		return err
	}
	fmt.Fprintln(s.out, strings.Join(words, " "))
	return nil
}

func (s *session) cmdSize(arg string) error {
	return s.eachMsg(arg, undeletedOnly, func(i int, m *Msg) error {
		fmt.Fprintf(s.out, "%d: %d\n", m.Num, m.Size)
		return nil
	})
}

func (s *session) cmdExit(string) error {
	s.quit = true
	return nil
}
