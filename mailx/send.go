package mailx

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"mime"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"homepost/addr"
	"homepost/submit"
)

// sendMode composes a message from the command line and standard input
// and queues it.
func (e *env) sendMode() int {
	o := e.opts
	d := &draft{subject: o.subject, from: o.from}
	for _, a := range o.operands {
		d.to = addRecipients(d.to, a)
	}
	for _, a := range o.cc {
		d.cc = addRecipients(d.cc, a)
	}
	for _, a := range o.bcc {
		d.bcc = addRecipients(d.bcc, a)
	}
	// -a is a file to attach in s-nail and POSIX, a header line in
	// bsd-mailx: "Name: value" naming no file is a header.
	// (-A, GNU mailutils', is always a file.)
	for _, a := range o.attach {
		_, err := os.Stat(a.path)
		if err != nil && !a.file && isHeaderLine(a.path) {
			d.addHeader(a.path)
			continue
		}
		if err != nil {
			e.warn("attachment: %v", err)
			return exNoInput
		}
		if a.ctype != "" {
			// Refused now, before the body is read: found as the
			// message was built, it left the text in dead.letter.
			if _, _, err := mime.ParseMediaType(a.ctype); err != nil {
				e.warn("attachment %s: content type %q: %v", a.path, a.ctype, err)
				return exUsage
			}
		}
		d.attach = append(d.attach, a)
	}
	if !o.extract && len(d.attach) == 0 {
		// (With -t the body is the user's, and so is its encoding;
		// with attachments the lines are left out.)
		if err := d.checkMIME(); err != nil {
			e.warn("%v", err)
			return exUsage
		}
	}
	if o.extract {
		return e.sendExtract(d)
	}
	interactive := e.in.tty || o.tilde
	if e.in.tty && !o.hasSubject && (e.set.isSet("asksub") || e.set.isSet("ask")) {
		e.out.WriteString("Subject: ")
		e.out.Flush()
		s, err := e.in.readLine()
		if err == errInterrupt {
			return exOK
		}
		if err == errHangup {
			return exHangup
		}
		d.subject = s
	}
	defer d.closeBody()
	if interactive {
		c := &composer{env: e, d: d}
		if !c.run() {
			if e.in.hup.Load() {
				return exHangup
			}
			return exOK
		}
	} else {
		// From a pipe, the body may be larger than memory: past a
		// megabyte it goes to a temporary file.
		err := d.readBody(e.in.br)
		if err != nil {
			e.warn("read message: %v", err)
			return exIOErr
		}
	}
	e.askCc(d)
	if o.noEmpty && d.bodyLen() == 0 && len(d.attach) == 0 {
		return exOK
	}
	if e.in.tty && d.bodyLen() == 0 {
		fmt.Fprintln(e.out, "Null message body; hope that's ok")
	}
	return e.sendDraft(d)
}

// sendExtract is -t: standard input is a whole message whose To, Cc and
// Bcc fields name recipients (besides any on the command line). Fields
// given by options and missing from the message are added in front; the
// rest is passed on as it is, and submit removes Bcc. Only the header
// section is held (up to submit.MaxHeader); the body streams through to
// the queue, as sendmail -t queues one.
func (e *env) sendExtract(d *draft) int {
	if len(d.attach) > 0 {
		e.warn("-a cannot be used with -t")
		return exUsage
	}
	br := e.in.br
	header, huge, err := readHeaderSection(br, submit.MaxHeader)
	if err != nil {
		e.warn("read message: %v", err)
		return exIOErr
	}
	has := func(name string) bool {
		for _, l := range bytes.Split(header, []byte{'\n'}) {
			if len(l) > len(name) && l[len(name)] == ':' && strings.EqualFold(string(l[:len(name)]), name) {
				return true
			}
		}
		return false
	}
	var pre bytes.Buffer
	add := func(name, value string) {
		if value != "" && !has(name) {
			pre.WriteString(name + ": " + value + "\n")
		}
	}
	for _, l := range d.headers {
		name, value, _ := strings.Cut(l, ":")
		add(name, strings.TrimSpace(value))
	}
	if d.from != "" {
		add("From", formatAddrs([]string{sanitize(typedAddress(d.from))}))
	}
	add("To", formatAddrs(e.set.expandAliases(d.to)))
	add("Cc", formatAddrs(e.set.expandAliases(d.cc)))
	if d.subject != "" && !has("Subject") {
		pre.WriteString("Subject: " + headerText(sanitize(typedText(d.subject))) + "\n")
	}
	if huge && pre.Len() > 0 {
		// Whether the header has the field further on is not known:
		// the header goes on as it is, as submit passes one this
		// large through without adding to it.
		e.warn("the header is larger than %d MiB: the fields given as options are not added to it", submit.MaxHeader>>20)
		pre.Reset()
	}
	var rest io.Reader = br
	if e.opts.noEmpty && len(bytes.TrimSpace(header)) == 0 {
		// Only white space so far: whether the whole message is
		// empty is known at its end. The rest is kept (in a
		// temporary file past a megabyte) until then.
		spool := &draft{}
		err := spool.readBody(br)
		defer spool.closeBody()
		if err != nil {
			e.warn("read message: %v", err)
			return exIOErr
		}
		if blank, err := onlySpace(spool.bodyReader()); err != nil {
			e.warn("read message: %v", err)
			return exIOErr
		} else if blank {
			return exOK
		}
		rest = spool.bodyReader()
	}
	msg := io.MultiReader(&pre, bytes.NewReader(header), rest)
	var rcpts []string
	rcpts = append(rcpts, e.set.expandAliases(d.to)...)
	rcpts = append(rcpts, e.set.expandAliases(d.cc)...)
	rcpts = append(rcpts, e.set.expandAliases(d.bcc)...)
	res, err := submit.Submit(e.cfg, submit.Options{
		Recipients: rcpts,
		Extract:    true,
		IgnoreDots: true,
		Sender:     addrOf(sanitize(d.from)),
		FullName:   os.Getenv("NAME"),
	}, msg)
	if err != nil {
		e.warn("%v", err)
		return exitCode(err)
	}
	if e.opts.verbose || e.set.isSet("verbose") {
		fmt.Fprintf(e.out, "queued as %s for %s\n", res.ID, strings.Join(res.Recipients, ", "))
	}
	return exOK
}

// readHeaderSection reads the header section of a message from br: the
// lines up to and including the first empty one (LF or CRLF), or all of
// the message when none is. It stops past limit bytes, with huge set and
// what it read returned; the rest is left in br.
func readHeaderSection(br *bufio.Reader, limit int) (header []byte, huge bool, err error) {
	atStart := true
	for {
		frag, err := br.ReadSlice('\n')
		header = append(header, frag...)
		switch {
		case err == nil:
			if atStart && isBlank(frag) {
				return header, false, nil
			}
			atStart = true
		case err == bufio.ErrBufferFull:
			atStart = false
		case err == io.EOF:
			return header, false, nil
		default:
			return nil, false, err
		}
		if len(header) > limit {
			return header, true, nil
		}
	}
}

// onlySpace reports whether r holds nothing but white space (as
// bytes.TrimSpace sees it).
func onlySpace(r io.Reader) (bool, error) {
	br := bufio.NewReaderSize(r, 32<<10)
	for {
		c, _, err := br.ReadRune()
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if !unicode.IsSpace(c) {
			return false, nil
		}
	}
}

// askCc prompts for Cc recipients after the body when askcc is set and
// the message comes from a terminal, as BSD mail does.
func (e *env) askCc(d *draft) {
	if !e.in.tty || !e.set.isSet("askcc") {
		return
	}
	e.out.WriteString("Cc: ")
	e.out.Flush()
	if s, err := e.in.readLine(); err == nil {
		d.cc = addRecipients(d.cc, s)
	}
}

// qualifyFrom gives a from (-r, the from variable) without a domain the
// host's, in the header as in the envelope, as homepost's sendmail -f
// and Postfix's cleanup do: "From: Me" is no address a smarthost takes.
// A display name is kept: "Me Too <me>" becomes "Me Too <me@host>".
func qualifyFrom(from, host string) string {
	a := addrOf(from)
	if a == "" || strings.Contains(a, "@") {
		return from
	}
	q := addr.Qualify(a, host)
	if i := strings.LastIndexByte(from, '<'); i >= 0 {
		if name := strings.TrimSpace(from[:i]); name != "" {
			return name + " <" + q + ">"
		}
	}
	return q
}

// sendDraft expands aliases, builds the message and queues it through
// homepost's outbox (or the program named by the sendmail variable),
// keeping a copy in the record file when one is set.
func (e *env) sendDraft(d *draft) int {
	if d.from == "" {
		// The from variable (s-nail's, and Heirloom mailx's) is -r's
		// default: -S from=ADDR, set from=ADDR in .mailrc.
		d.from = e.set.get("from")
	}
	// An address that is not UTF-8 (Latin-1 typed where the terminal is
	// not UTF-8) is refused, as sendmail refuses it: sent with U+FFFD in
	// place of its bytes, it would name no one and bounce.
	for _, a := range append([]string{d.from}, d.recipients()...) {
		if !utf8.ValidString(addrOf(a)) {
			e.warn("bad address %q: it is not valid UTF-8", addrOf(a))
			e.saveDead(d)
			return exDataErr
		}
	}
	d.from = qualifyFrom(sanitize(typedAddress(d.from)), e.cfg.Hostname)
	d.to = e.set.expandAliases(d.to)
	d.cc = e.set.expandAliases(d.cc)
	d.bcc = e.set.expandAliases(d.bcc)
	if len(d.recipients()) == 0 && !e.opts.extract {
		e.warn("no recipients specified")
		e.saveDead(d)
		return exUsage
	}
	// The message is built as it is written, once into the queue
	// (or the sendmail program) and once more, the same, into the
	// record file: it is never whole in memory.
	now := time.Now()
	if d.messageID == "" {
		d.messageID = newMessageID(now, e.cfg.Hostname)
	}
	if d.from == "" && e.set.get("sendmail") == "" {
		// The From that homepost's queue would add (submit), written
		// here so that the record copy has it too. A sendmail program
		// of the user's own (msmtp) is left to add its own, which may
		// name another address.
		d.genFrom = submit.GeneratedFrom(e.cfg, submit.Options{FullName: os.Getenv("NAME")}, e.cfg.User+"@"+e.cfg.Hostname)
	}
	if prog := e.set.get("sendmail"); prog != "" {
		if code := e.runSendmail(prog, d, now); code != exOK {
			e.saveDead(d)
			return code
		}
	} else {
		msg, wait := d.messageReader(now)
		res, err := submit.Submit(e.cfg, submit.Options{
			Recipients: d.recipients(),
			Extract:    e.opts.extract,
			IgnoreDots: true,
			Sender:     addrOf(sanitize(d.from)),
			// NAME gives a generated From its full name, as a mailx
			// that hands the message to sendmail has it.
			FullName: os.Getenv("NAME"),
		}, msg)
		if berr := wait(); berr != nil {
			e.warn("%v", berr)
			e.saveDead(d)
			return exDataErr
		}
		if err != nil {
			e.warn("%v", err)
			e.saveDead(d)
			return exitCode(err)
		}
		if e.opts.verbose || e.set.isSet("verbose") {
			fmt.Fprintf(e.out, "queued as %s for %s\n", res.ID, strings.Join(res.Recipients, ", "))
		}
	}
	path := d.record
	if rec := e.set.get("record"); path == "" && rec != "" {
		path = e.expandFolder(rec)
	}
	if path != "" {
		sender := addrOf(d.from)
		if sender == "" {
			sender = e.cfg.User + "@" + e.cfg.Hostname
		}
		if err := e.record(d, path, sender, now); err != nil {
			e.warn("record: %v", err)
		}
	}
	return exOK
}

// newMessageID makes a Message-ID for a message mail sends: the time and
// 64 random bits, at the host's name.
func newMessageID(now time.Time, host string) string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("<%s.%x@%s>", now.UTC().Format("20060102150405"), b, host)
}

// record appends a copy of the message sent to the mbox at path, by
// record (appendMbox): the message is built twice, once to measure the
// copy and once to write it (the same bytes: the boundary and the date
// are the draft's).
func (e *env) record(d *draft, path, sender string, now time.Time) error {
	var waits []func() error
	build := func() (*bufio.Reader, []byte) {
		msg, wait := d.messageReader(now)
		waits = append(waits, wait)
		br := bufio.NewReaderSize(msg, 64<<10)
		var header []byte
		for {
			line, err := br.ReadSlice('\n')
			header = append(header, line...)
			if isBlank(line) || err != nil {
				break
			}
		}
		return br, header
	}
	first, header := build()
	passes := 0
	bodies := func() io.Reader {
		passes++
		if passes == 1 {
			return first
		}
		br, _ := build()
		return br
	}
	err := e.appendMbox(path, sender, now, header, bodies)
	for _, wait := range waits {
		if werr := wait(); werr != nil {
			return werr
		}
	}
	return err
}

// runSendmail hands the message to another program, as mailx does when
// the sendmail variable is set.
func (e *env) runSendmail(prog string, d *draft, now time.Time) int {
	args := []string{"-i"}
	if d.from != "" {
		args = append(args, "-f", addrOf(sanitize(d.from)))
	}
	if e.opts.extract {
		args = append(args, "-t")
	}
	args = append(args, "--")
	args = append(args, d.recipients()...)
	cmd := exec.Command(prog, args...)
	msg, wait := d.messageReader(now)
	cmd.Stdin = msg
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	e.out.Flush()
	err := cmd.Run()
	if berr := wait(); berr != nil {
		e.warn("%v", berr)
		return exDataErr
	}
	if err != nil {
		e.warn("%s: %v", prog, err)
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
			return ee.ExitCode()
		}
		return exTempFail
	}
	return exOK
}

// saveDead keeps the text of a message that was not sent in
// ~/dead.letter (or $DEAD), unless nosave is set.
func (e *env) saveDead(d *draft) {
	if e.set.isSet("nosave") || d.bodyLen() == 0 {
		return
	}
	path := os.Getenv("DEAD")
	if v := e.set.get("DEAD"); v != "" {
		path = v
	}
	if path == "" {
		path = filepath.Join(e.cfg.Home, "dead.letter")
	}
	path = e.expandPath(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		e.warn("%v", err)
		return
	}
	// A text that cannot be written whole (a full disk) is taken back
	// and reported: "saved" is said only of what is there.
	start, _ := f.Seek(0, io.SeekEnd)
	lines := &lineCounter{w: f}
	_, err = io.Copy(lines, d.bodyReader())
	if err == nil {
		// The text is on disk before "saved" is said of it: a crash
		// or power loss just after must not lose what the user typed.
		err = f.Sync()
	}
	if err == nil {
		err = f.Close()
	} else {
		f.Truncate(start)
		f.Close()
	}
	if err != nil {
		e.warn("%s: the text was not saved: %v", path, err)
		return
	}
	fmt.Fprintf(e.out, "\"%s\" %d/%d\n", path, lines.lines(), lines.n)
}

// expandPath expands a leading ~ or ~/, keeping a trailing slash (which
// names a Maildir).
func (e *env) expandPath(p string) string {
	if p == "~" {
		return e.cfg.Home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(e.cfg.Home, p[2:]) + trailing(p)
	}
	return p
}

// expandFolder resolves a file name as mailx does: "+name" is in the
// folder directory, "&" is ~/mbox, "%" is the system mailbox ($MAIL or
// the store), "~/" is home, and a relative name is relative to the
// current directory.
func (e *env) expandFolder(name string) string {
	switch {
	case name == "&":
		return e.mboxPath()
	case name == "%":
		_, p := e.systemMailbox()
		return p
	case strings.HasPrefix(name, "+"):
		return filepath.Join(e.folderDir(), name[1:]) + trailing(name)
	}
	return e.expandPath(name)
}

func trailing(p string) string {
	if strings.HasSuffix(p, "/") && len(p) > 1 {
		return "/"
	}
	return ""
}

// folderDir is the folder variable: relative to home, default ~/mail.
func (e *env) folderDir() string {
	f := e.set.get("folder")
	if f == "" {
		f = "mail"
	}
	f = e.expandPath(f)
	if !filepath.IsAbs(f) {
		f = filepath.Join(e.cfg.Home, f)
	}
	return f
}

// mboxPath is where read messages go on quit without hold: $MBOX, the
// MBOX variable, else ~/mbox.
func (e *env) mboxPath() string {
	if v := e.set.get("MBOX"); v != "" {
		return e.expandPath(v)
	}
	if v := os.Getenv("MBOX"); v != "" {
		return v
	}
	return filepath.Join(e.cfg.Home, "mbox")
}
