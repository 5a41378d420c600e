package mailx

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"
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

func (s *session) cmdReplyAll(arg string) error    { return s.reply(arg, true) }
func (s *session) cmdReplySender(arg string) error { return s.reply(arg, false) }

// reply answers a message: to its Reply-To or From, and with all also
// to its To and Cc (without the user's own addresses unless metoo is
// set); "Re:" subject; In-Reply-To and References for threading; the
// text quoted when quote is set (the default).
func (s *session) reply(arg string, all bool) error {
	list, err := s.sel().resolve(arg, undeletedOnly)
	if err != nil {
		return err
	}
	m := s.box.Msgs[list[0]]
	raw, err := s.box.Raw(m)
	if err != nil {
		return err
	}
	s.dot = list[0]
	s.shown = true
	header, _ := splitMessage(raw)
	hdr, perr := mail.ReadMessage(bytes.NewReader(append(bytes.Clone(header), '\n')))
	get := func(k string) string {
		if perr != nil {
			return ""
		}
		return sanitize(hdr.Header.Get(k))
	}
	d := &draft{}
	to := get("Reply-To")
	if to == "" {
		to = get("From")
	}
	if to == "" {
		to = m.sender()
	}
	d.to = addList(nil, to)
	if all {
		d.to = addList(d.to, get("To"))
		d.cc = addList(nil, get("Cc"))
		if !s.set.isSet("metoo") {
			d.to = s.dropSelf(d.to)
			d.cc = s.dropSelf(d.cc)
		}
		if len(d.to) == 0 {
			d.to = addList(nil, to)
		}
	}
	d.to = dedupe(d.to)
	d.cc = dedupe(d.cc)
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
	fmt.Fprintf(s.out, "To: %s\n", strings.Join(d.to, ", "))
	if len(d.cc) > 0 {
		fmt.Fprintf(s.out, "Cc: %s\n", strings.Join(d.cc, ", "))
	}
	fmt.Fprintf(s.out, "Subject: %s\n", d.subject)
	if s.set.isSet("quote") {
		s.quoteInto(d, m, raw, "> ")
		s.out.Write(d.body.Bytes())
	}
	if s.compose(d) {
		m.flags |= fReplied
	}
	return nil
}

// dropSelf removes the user's own addresses (and the alternates
// variable's) from a reply's recipients.
func (s *session) dropSelf(list []string) []string {
	self := map[string]bool{
		strings.ToLower(s.cfg.User):                        true,
		strings.ToLower(s.cfg.User + "@" + s.cfg.Hostname): true,
	}
	for _, a := range strings.Fields(s.set.get("alternates")) {
		self[strings.ToLower(a)] = true
	}
	var out []string
	for _, a := range list {
		addr := strings.ToLower(addrOf(a))
		if self[addr] {
			continue
		}
		// user@any-local-domain is the user too.
		if local, domain, ok := strings.Cut(addr, "@"); ok && local == strings.ToLower(s.cfg.User) && s.cfg.IsLocalDomain(domain) {
			continue
		}
		out = append(out, a)
	}
	return out
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
// after an attribution line.
func (s *session) quoteInto(d *draft, m *Msg, raw []byte, prefix string) {
	var body bytes.Buffer
	renderBody(&body, raw)
	who := decodeHeader(m.From)
	if who == "" {
		who = m.sender()
	}
	fmt.Fprintf(&d.body, "On %s, %s wrote:\n", strings.TrimSpace(m.summaryDate()), who)
	for _, l := range strings.SplitAfter(strings.TrimRight(body.String(), "\n"), "\n") {
		d.body.WriteString(prefix + strings.TrimRight(l, "\n") + "\n")
	}
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
		raw, err := s.box.Raw(m)
		if err != nil {
			fmt.Fprintln(s.out, err)
			return
		}
		var buf bytes.Buffer
		s.render(&buf, raw, kind == 'M' || kind == 'F', -1)
		for _, l := range strings.SplitAfter(strings.TrimRight(buf.String(), "\n"), "\n") {
			d.body.WriteString(prefix + strings.TrimRight(l, "\n") + "\n")
		}
		fmt.Fprintf(s.out, "Interpolating: %d\n", m.Num)
	}
	fmt.Fprintln(s.out, "(continue)")
}

// compose reads the body of a draft from the terminal and sends it; it
// reports whether the message was queued.
func (s *session) compose(d *draft) bool {
	c := &composer{env: s.env, d: d, sess: s}
	if d.subject == "" && s.in.tty && (s.set.isSet("asksub") || s.set.isSet("ask")) {
		d.subject = c.prompt("Subject", "")
	}
	if !c.run() {
		return false
	}
	s.askCc(d)
	if d.body.Len() == 0 && len(d.attach) == 0 {
		fmt.Fprintln(s.out, "Null message body; hope that's ok")
	}
	return s.sendDraft(d) == exOK
}
