package mailx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"homepost/maildir"
	hpsettings "homepost/settings"
)

// session is read mode: an open mailbox and the command loop.
type session struct {
	*env
	box   *Box
	dot   int  // index of the current message, -1 when none
	shown bool // the current message was shown (else "next" shows it)
	top   int  // first message of the last header screen
	quit  bool
	// currentLine is the command line being run, for commands that
	// share a handler and need the name typed.
	currentLine string
	code        int
	// mboxIsBox: MBOX is the mailbox read (set by apply on quit).
	mboxIsBox bool
	// gone counts the kept messages that quit found removed by another
	// program (applyMaildir), which are not "held".
	gone int
}

func (s *session) sel() selector { return selector{msgs: s.box.Msgs, dot: s.dot} }

// mailboxTarget is the mailbox read mode opens: -f FILE, bare -f
// (~/mbox), or the configured store.
func (e *env) mailboxTarget() (kind, path string, system bool) {
	if e.opts.file {
		p := e.mboxPath()
		if len(e.opts.operands) > 0 {
			p = e.expandFolder(e.opts.operands[0])
		}
		if maildir.IsMaildir(p) {
			return "maildir", p, false
		}
		return "mbox", p, false
	}
	kind, path = e.systemMailbox()
	return kind, path, true
}

// systemMailbox is the mailbox read without -f: the one $MAIL names, as
// POSIX mailx reads it, else the store. The default that pam_mail puts
// in a login shell's environment (/var/mail/USER, /var/spool/mail/USER)
// is passed over while that file is absent or empty: homepost delivers
// to the store, and an empty spool file must not hide it.
func (e *env) systemMailbox() (kind, path string) {
	p := os.Getenv("MAIL")
	if p == "" || e.loginSpool(p) {
		kind, path = e.cfg.StoreKind()
		if kind == "mbox" && maildir.IsMaildir(path) {
			// store = "mbox:DIR" naming a Maildir: delivery stores
			// into it as a Maildir (courier.DirectoryAt), and so it
			// is read; homepost check warns of the setting.
			kind = "maildir"
		}
		return kind, path
	}
	if maildir.IsMaildir(p) {
		return "maildir", p
	}
	return "mbox", p
}

// loginSpool reports whether path is pam_mail's default $MAIL for the
// user (settings.LoginSpool), which the store is read in place of.
func (e *env) loginSpool(path string) bool {
	return hpsettings.LoginSpool(path, e.cfg.User, os.Getenv("USER"), os.Getenv("LOGNAME"))
}

// spoolNote tells, once a session of the store begins, of mail left in
// the login spool that $MAIL names (settings.SpoolLeftover): mail that
// an earlier mail system delivered, which the store's reading passes
// over and which would otherwise go unseen.
func (e *env) spoolNote(path string) {
	p := os.Getenv("MAIL")
	if p == "" || p == path || !e.loginSpool(p) || !hpsettings.SpoolLeftover(p) {
		return
	}
	e.warn("note: %s ($MAIL) holds mail that homepost did not deliver (it delivers to %s): read it with mail -f %s", p, path, p)
}

// readMode opens the mailbox, shows the summary and runs commands.
func (e *env) readMode() int {
	kind, path, system := e.mailboxTarget()
	if e.opts.checkMail {
		// -e prints nothing, but a mailbox it cannot read is said, with
		// a status that is neither "mail" (0) nor "no mail" (1).
		ok, err := hasMail(kind, path)
		if err != nil {
			e.warn("%v", mailboxError(err))
			return exIOErr
		}
		if ok {
			return 0
		}
		return 1
	}
	// What the session allocates is nearly all kept (the summaries of
	// the mailbox), and what it throws away (decoded subjects, summary
	// lines) would let the heap of a big mailbox grow to twice that
	// before the collector ran: run it at a fifth more instead.
	debug.SetGCPercent(20)
	if system {
		e.spoolNote(path)
	}
	if e.opts.headers {
		return e.listHeaders(kind, path, system)
	}
	box, err := openBox(kind, path, system)
	if err != nil {
		e.warn("%v", mailboxError(err))
		if errors.Is(err, os.ErrNotExist) {
			return exNoInput
		}
		return exIOErr
	}
	defer box.Close()
	s := &session{env: e, box: box, dot: -1}
	s.setDot()
	if len(box.Msgs) == 0 {
		// On stderr with status 1, as BSD mail does, so that
		// "mail || echo none" and "mail -H || echo none" work and
		// scripts see no output. An empty folder (-f) has no mail
		// either: s-nail says nothing and exits 1.
		s.out.Flush()
		if system {
			fmt.Fprintf(s.errw, "No mail for %s\n", e.cfg.User)
		}
		return 1
	}
	if s.in.tty {
		fmt.Fprintf(s.out, "homepost mail.  Type ? for help.\n")
	}
	s.banner()
	if !e.opts.noHeaders && !e.set.isSet("noheader") {
		s.headers(s.dot)
	}
	s.loop()
	return s.code
}

// mailboxError words a failure to open a mailbox as mailx does:
// "/path: No such file or directory", without Go's "stat" or "open".
func mailboxError(err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return err
	}
	msg := pe.Err.Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return fmt.Errorf("%s: %s", pe.Path, msg)
}

// hasMail answers -e without listing the mailbox.
func hasMail(kind, path string) (bool, error) {
	if kind == "maildir" {
		return maildir.Dir(path).HasMessages()
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	if st.IsDir() {
		return false, fmt.Errorf("%s: %w", path, syscall.EISDIR)
	}
	return st.Size() > 0, nil
}

// setDot makes the first new message current, else the first unread,
// else the first.
func (s *session) setDot() {
	s.dot = -1
	for i, m := range s.box.Msgs {
		if m.has(fNew) && !m.has(fDeleted) {
			s.dot = i
			return
		}
	}
	for i, m := range s.box.Msgs {
		if m.unread() && !m.has(fDeleted) {
			s.dot = i
			return
		}
	}
	for i, m := range s.box.Msgs {
		if !m.has(fDeleted) {
			s.dot = i
			return
		}
	}
	if len(s.box.Msgs) > 0 {
		s.dot = 0
	}
}

// banner prints `"PATH": 3 messages 2 new 1 unread`.
func (s *session) banner() {
	n, nw, unread, del := 0, 0, 0, 0
	for _, m := range s.box.Msgs {
		n++
		switch {
		case m.has(fDeleted):
			del++
		case m.has(fNew) && !m.has(fRead):
			nw++
		case m.unread():
			unread++
		}
	}
	fmt.Fprintf(s.out, "%q: %d %s", s.box.Path, n, plural(n, "message"))
	if nw > 0 {
		fmt.Fprintf(s.out, " %d new", nw)
	}
	if unread > 0 {
		fmt.Fprintf(s.out, " %d unread", unread)
	}
	if del > 0 {
		fmt.Fprintf(s.out, " %d deleted", del)
	}
	if s.box.ReadOnly {
		fmt.Fprint(s.out, " [Read only]")
	}
	fmt.Fprintln(s.out)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func (s *session) width() int {
	if v, err := strconv.Atoi(s.set.get("COLUMNS")); err == nil && v > 20 {
		return v
	}
	w, _ := termSize()
	return w
}

// screen is the number of header lines in a screenful.
func (s *session) screen() int {
	if v, err := strconv.Atoi(s.set.get("screen")); err == nil && v > 0 {
		return v
	}
	if !s.in.tty {
		return 20
	}
	_, h := termSize()
	return max(h-4, 5)
}

// headers prints the screenful of the summary that holds message i.
func (s *session) headers(i int) {
	size := s.screen()
	if i < 0 {
		i = 0
	}
	s.top = (i / size) * size
	s.printPage()
}

func (s *session) printPage() {
	size := s.screen()
	n := len(s.box.Msgs)
	if n == 0 {
		fmt.Fprintln(s.out, "No applicable messages")
		return
	}
	if s.top >= n {
		s.top = max(0, n-size)
	}
	shown := 0
	width := s.width()
	for i := s.top; i < n && shown < size; i++ {
		m := s.box.Msgs[i]
		if m.has(fDeleted) {
			continue
		}
		s.out.WriteString(headerLine(m, i == s.dot, width))
		s.out.WriteByte('\n')
		shown++
	}
	if shown == 0 {
		fmt.Fprintln(s.out, "No more mail.")
	}
}

// loop reads and runs commands until quit, exit or end of input.
func (s *session) loop() {
	prompt := "& "
	if v, ok := s.set.vars["prompt"]; ok {
		prompt = v
	}
	for !s.quit {
		// An interrupt meant for a pager or a shell escape that has
		// ended is not one for the prompt.
		s.in.interrupted()
		if s.in.tty {
			s.out.WriteString(prompt)
		}
		s.out.Flush()
		line, err := s.in.readLine()
		if err == errInterrupt {
			fmt.Fprintln(s.out, "\nInterrupt")
			continue
		}
		if err == errHangup {
			// As BSD mail's: the mailbox is left as it was (as by
			// exit), so nothing is lost with the terminal.
			s.quit, s.code = true, exHangup
			break
		}
		if err == io.EOF {
			if s.in.tty && s.set.isSet("ignoreeof") {
				fmt.Fprintln(s.out, `Use "quit" to quit.`)
				continue
			}
			s.cmdQuit("")
			break
		}
		if err != nil {
			s.warn("%v", err)
			s.cmdQuit("")
			break
		}
		s.execute(line)
	}
	s.out.Flush()
}

// execute runs one command line.
func (s *session) execute(line string) {
	line = strings.TrimLeft(line, " \t")
	if strings.HasPrefix(line, "#") {
		return
	}
	s.currentLine = line
	if b := s.box; b != nil && b.Kind == "mbox" && b.f != nil {
		// One fstat: a rewrite by another program is found, and
		// said, before the command counts on the session's
		// messages (quit's moves, a range of them). An error is
		// the reading command's to tell.
		b.errw = s.errw
		b.current(nil)
	}
	name, arg := splitCommand(line)
	c := lookupCommand(name)
	if c == nil {
		fmt.Fprintf(s.out, "Unknown command: \"%s\"\n", name)
		return
	}
	if s.box != nil && s.box.ReadOnly && changesBox[c.name] {
		// Refused now, as s-nail refuses them, rather than
		// accepted and then failing at quit.
		s.warn("%s: cannot be used in a read-only mailbox", c.name)
		return
	}
	if err := c.fn(s, strings.TrimSpace(arg)); err != nil {
		s.out.Flush()
		fmt.Fprintln(s.out, err)
	}
}

// changesBox are the commands whose changes quit writes to the
// mailbox, refused in a read-only one (Box.ReadOnly).
var changesBox = map[string]bool{
	"delete": true, "dp": true, "dt": true, "mbox": true, "edit": true, "visual": true,
}

// notWhileComposing are the commands ~: refuses: they would end the
// session or switch its mailbox under the message being written, or
// start another message inside it.
var notWhileComposing = map[string]bool{
	"quit": true, "xit": true, "exit": true, "file": true, "folder": true,
	"mail": true, "reply": true, "Reply": true, "respond": true, "Respond": true,
	"followup": true, "Followup": true,
}

// composeCommand runs a command line typed as ~:cmd or ~_cmd while a
// message is being composed.
func (s *session) composeCommand(line string) {
	name, _ := splitCommand(strings.TrimLeft(line, " \t"))
	if c := lookupCommand(name); c != nil && notWhileComposing[c.name] {
		fmt.Fprintf(s.out, "%s: not while composing a message\n", c.name)
		return
	}
	s.execute(line)
}

// splitCommand splits the command word from its arguments: a word of
// letters, or one of the punctuation commands (! | = ? # + -). A line
// that starts with a digit is a message list for "next" (print).
func splitCommand(line string) (string, string) {
	if line == "" {
		return "", ""
	}
	switch line[0] {
	case '!', '|', '=', '?', '#':
		return line[:1], line[1:]
	case '+', '-':
		if len(line) == 1 {
			return line, ""
		}
	}
	i := 0
	for i < len(line) && (line[i] >= 'a' && line[i] <= 'z' || line[i] >= 'A' && line[i] <= 'Z') {
		i++
	}
	return line[:i], line[i:]
}

// writeSummary writes the summary line of every message (mail -H), with
// the current message (dot) marked. Lines are formatted a few thousand
// at a time by a worker per CPU and written in order, so that the
// output of a big mailbox is never held whole.
func writeSummary(w io.Writer, msgs []*Msg, dot, width int) {
	const batch = 4096
	workers := runtime.GOMAXPROCS(0)
	bufs := make([][]byte, workers)
	for lo := 0; lo < len(msgs); lo += batch {
		part := msgs[lo:min(lo+batch, len(msgs))]
		size := (len(part) + workers - 1) / workers
		var wg sync.WaitGroup
		for k := range bufs {
			a, z := min(k*size, len(part)), min((k+1)*size, len(part))
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := bufs[k][:0]
				for i := a; i < z; i++ {
					b = appendHeaderLine(b, part[i], lo+i == dot, width)
					b = append(b, '\n')
				}
				bufs[k] = b
			}()
		}
		wg.Wait()
		for _, b := range bufs {
			w.Write(b)
		}
	}
}
