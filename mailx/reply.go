package mailx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// cmdMail composes a new message from read mode: m ADDR...
func (s *session) cmdMail(arg string) error {
	words, err := splitWords(arg)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return fmt.Errorf("mail: no recipients given")
	}
	d := &draft{}
	for _, w := range words {
		d.to = addList(d.to, w)
	}
	s.compose(d)
	return nil
}

func (s *session) cmdReplyAll(arg string) error    { return s.reply(arg, replyKind{all: true}) }
func (s *session) cmdReplySender(arg string) error { return s.reply(arg, replyKind{many: true}) }
func (s *session) cmdFollowup(arg string) error    { return s.reply(arg, replyKind{record: true}) }
func (s *session) cmdFollowupAll(arg string) error {
	return s.reply(arg, replyKind{many: true, record: true})
}

// replyKind tells the reply commands apart.
type replyKind struct {
	all    bool // reply: also to the To and Cc of the message
	many   bool // Reply, Followup: a message list, to the sender of each
	record bool // followup, Followup: keep a copy named after the recipient
}

// reply answers a message: to its Reply-To or From (with many, those of
// every message of the list), and with all also to its To and Cc,
// without the user's own addresses and alternates unless metoo is set;
// "Re:" subject, In-Reply-To and References from the first message, and
// its text quoted when quote is set (the default). With record, the
// message sent is also appended, in mbox form, to a file named after
// the login name of the first recipient (see recordPath).
func (s *session) reply(arg string, k replyKind) error {
	list, err := s.sel().resolve(arg, undeletedOnly)
	if err != nil {
		return err
	}
	if !k.many {
		list = list[:1]
	}
	d := &draft{}
	var senders []string
	var first *Msg
	for n, i := range list {
		m := s.box.Msgs[i]
		header, err := s.box.header(m)
		if err != nil {
			return err
		}
		hdr, perr := mail.ReadMessage(bytes.NewReader(append(bytes.Clone(header), '\n')))
		get := func(k string) string {
			if perr != nil {
				return ""
			}
			return sanitize(hdr.Header.Get(k))
		}
		to := get("Reply-To")
		if to == "" {
			to = get("From")
		}
		if to == "" {
			to = m.sender()
		}
		senders = addList(senders, to)
		if n > 0 {
			continue
		}
		first = m
		if k.all {
			d.to = addList(d.to, get("To"))
			d.cc = addList(nil, get("Cc"))
		}
		subj := decodeHeader(get("Subject"))
		if !strings.HasPrefix(strings.ToLower(subj), "re:") {
			subj = "Re: " + subj
		}
		d.subject = subj
		if id := get("Message-ID"); id != "" {
			d.inReplyTo = id
			refs := get("References")
			if refs == "" {
				refs = get("In-Reply-To")
			}
			d.references = strings.TrimSpace(refs + " " + id)
		}
	}
	d.to = append(slices.Clone(senders), d.to...)
	// An address whose bytes are not UTF-8 (an 8-bit header in another
	// charset) reads with U+FFFD in place of them: that address was
	// never in the message, and is left out, not invented.
	d.to, d.cc = s.dropUnreadable(d.to), s.dropUnreadable(d.cc)
	if !s.set.isSet("metoo") {
		d.to = s.dropSelf(d.to)
		d.cc = s.dropSelf(d.cc)
		if len(d.to) == 0 {
			// Answering oneself: the reply goes back to the
			// sender rather than nowhere.
			d.to = senders
		}
	}
	d.to = dedupe(d.to)
	d.cc = dedupe(d.cc)
	if k.record {
		if d.record, err = s.recordPath(d.to); err != nil {
			return err
		}
	}
	s.dot = list[0]
	s.shown = true
	fmt.Fprintf(s.out, "To: %s\n", strings.Join(d.to, ", "))
	if len(d.cc) > 0 {
		fmt.Fprintf(s.out, "Cc: %s\n", strings.Join(d.cc, ", "))
	}
	fmt.Fprintf(s.out, "Subject: %s\n", d.subject)
	if s.set.isSet("quote") {
		if err := s.quoteInto(d, first, "> "); err != nil {
			return err
		}
		io.Copy(s.out, d.bodyReader())
	}
	if s.compose(d) {
		for _, i := range list {
			s.box.Msgs[i].flags |= fReplied
		}
	}
	return nil
}

// recordPath is where followup and Followup keep the message they send:
// a file named after the login name of the first recipient, in the
// folder directory when the folder or outfolder variable is set, else
// in the current directory.
func (s *session) recordPath(to []string) (string, error) {
	if len(to) == 0 {
		return "", errors.New("followup: no recipient")
	}
	name, ok := loginFileName(addrOf(to[0]))
	if !ok {
		return "", fmt.Errorf("followup: no login name in %q to name a file after", to[0])
	}
	if s.set.get("folder") != "" || s.set.isSet("outfolder") {
		return filepath.Join(s.folderDir(), name), nil
	}
	return name, nil
}

// loginFileName is the file name POSIX derives from an address for
// Save, Copy and followup: the login name, that is the local part
// without a UUCP path (host!user), with '/' and control characters
// replaced so that the name stays one file in one directory.
func loginFileName(addr string) (string, bool) {
	name := addr
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, '!'); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r == '/' || r < ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, name)
	if name == "" || name == "." || name == ".." {
		return "", false
	}
	return name, true
}

// alternates are the user's other names: the alternates command's list
// and the words of the alternates variable.
func (s *session) alternates() []string {
	return append(slices.Clone(s.set.alternates), strings.Fields(s.set.get("alternates"))...)
}

// cmdAlternates is alternates NAME...: it replaces the list of the
// user's other names, which replies leave out; without arguments it
// prints the list.
func (s *session) cmdAlternates(arg string) error {
	words, err := splitWords(arg)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		if alts := s.alternates(); len(alts) > 0 {
			fmt.Fprintln(s.out, strings.Join(alts, " "))
		}
		return nil
	}
	return s.set.apply(append([]string{"alternates"}, words...))
}

// dropSelf removes the user from a reply's recipients (see isSelf).
func (s *session) dropSelf(list []string) []string {
	var out []string
	for _, a := range list {
		if !s.isSelf(a) {
			out = append(out, a)
		}
	}
	return out
}

// isSelf reports whether an address is the user's: the login name,
// login@hostname, the login at any local domain, or an alternate. An
// alternate with an @ is an address and must match whole; a bare name
// is a login name, and matches alone or at any local domain, as the
// user's own does.
func (s *session) isSelf(a string) bool {
	addr := strings.ToLower(addrOf(a))
	if addr == "" {
		return false
	}
	if addr == strings.ToLower(s.cfg.User+"@"+s.cfg.Hostname) {
		return true
	}
	local, domain := addr, ""
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local, domain = addr[:i], addr[i+1:]
	}
	for _, name := range append([]string{s.cfg.User}, s.alternates()...) {
		name = strings.ToLower(name)
		switch {
		case strings.Contains(name, "@"):
			if addr == name {
				return true
			}
		case local == name && (domain == "" || s.cfg.IsLocalDomain(domain)):
			return true
		}
	}
	return false
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range list {
		k := strings.ToLower(addrOf(a))
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}

// quoteInto adds the text of a message to a draft, each line prefixed,
// after an attribution line. The text is rendered into the draft as it
// is read.
func (s *session) quoteInto(d *draft, m *Msg, prefix string) error {
	who := m.from()
	if who == "" {
		who = m.sender()
	}
	start := d.bodyLen()
	fmt.Fprintf(d, "On %s, %s wrote:\n", strings.TrimSpace(m.summaryDate()), who)
	q := &quoteWriter{w: d, prefix: prefix}
	if err := renderBodyFrom(q, func() (io.ReadCloser, error) { return s.box.Open(m) }, s.set.shown); err != nil {
		d.truncateBody(start)
		return err
	}
	q.Close()
	return nil
}

// quoteWriter writes text with prefix before each line, as the lines of
// the text without its trailing newlines, each ended by one.
type quoteWriter struct {
	w interface {
		io.Writer
		io.StringWriter
	}
	prefix  string
	nl      int // newlines not yet written: they may end the text
	started bool
}

func (q *quoteWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if p[0] == '\n' {
			q.nl++
			p = p[1:]
			continue
		}
		if !q.started {
			q.w.WriteString(q.prefix)
			q.started = true
		}
		for ; q.nl > 0; q.nl-- {
			q.w.WriteString("\n" + q.prefix)
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			i = len(p)
		}
		q.w.Write(p[:i])
		p = p[i:]
	}
	return n, nil
}

// Close ends the last line.
func (q *quoteWriter) Close() {
	if !q.started {
		q.w.WriteString(q.prefix)
	}
	q.w.WriteString("\n")
}

// insertMessages runs ~m, ~M, ~f and ~F: it adds messages (default: the
// current one) to a draft, quoted with indentprefix (default a tab) for
// ~m and ~M; with all header fields for ~M and ~F.
func (s *session) insertMessages(d *draft, arg string, kind byte) {
	list, err := s.sel().resolve(arg, undeletedOnly)
	if err != nil {
		fmt.Fprintln(s.out, err)
		return
	}
	prefix := ""
	if kind == 'm' || kind == 'M' {
		prefix = "\t"
		if v, ok := s.set.vars["indentprefix"]; ok {
			prefix = v
		}
	}
	for _, i := range list {
		m := s.box.Msgs[i]
		r, err := s.box.Open(m)
		if err != nil {
			fmt.Fprintln(s.out, err)
			return
		}
		start := d.bodyLen()
		q := &quoteWriter{w: d, prefix: prefix}
		if err := s.render(q, m, r, kind == 'M' || kind == 'F', -1); err != nil {
			d.truncateBody(start)
			fmt.Fprintln(s.out, err)
			return
		}
		q.Close()
		fmt.Fprintf(s.out, "Interpolating: %d\n", m.Num)
	}
	fmt.Fprintln(s.out, "(continue)")
}

// compose reads the body of a draft from the terminal and sends it; it
// reports whether the message was queued.
func (s *session) compose(d *draft) bool {
	defer d.closeBody()
	c := &composer{env: s.env, d: d, sess: s}
	if d.subject == "" && s.in.tty && (s.set.isSet("asksub") || s.set.isSet("ask")) {
		d.subject = c.prompt("Subject", "")
	}
	if !c.run() {
		return false
	}
	s.askCc(d)
	if d.bodyLen() == 0 && len(d.attach) == 0 {
		fmt.Fprintln(s.out, "Null message body; hope that's ok")
	}
	return s.sendDraft(d) == exOK
}

// dropUnreadable leaves out, with a warning, the addresses that hold
// U+FFFD where the header had bytes that are not UTF-8.
func (s *session) dropUnreadable(list []string) []string {
	var out []string
	for _, a := range list {
		if strings.ContainsRune(addrOf(a), utf8.RuneError) {
			s.warn("left out %q: its bytes are not UTF-8, so the address cannot be read", a)
			continue
		}
		out = append(out, a)
	}
	return out
}
