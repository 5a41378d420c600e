package mailx

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"homepost/addr"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// draft is a message being composed.
type draft struct {
	to, cc, bcc []string
	subject     string
	from        string // -r: From and envelope sender
	inReplyTo   string
	references  string
	attach      []attachment
	// headers are header lines given with -a "Name: value" (as
	// bsd-mailx has it): each replaces the field of that name that
	// would be written.
	headers []string
	// The body is the first spoolSize bytes of spool, when set, then
	// body (see draft.Write): a large text is held in an unlinked
	// temporary file, not in memory.
	body        bytes.Buffer
	spool       *os.File
	spoolSize   int64
	spoolFailed bool // the spool could not be written: body holds the rest
	// boundary is the multipart boundary, chosen once.
	boundary string
	// record, when set, is the file (already expanded) that keeps a
	// copy of the message sent instead of the record variable's:
	// followup names it after the recipient.
	record string
	// messageID and genFrom are the Message-ID and, without -r, the
	// From field that sending fills in (sendDraft), so that the record
	// copy is the message that was sent, with both: queued without
	// them, the queue's own were not in the record.
	messageID, genFrom string
}

// sanitize makes a header value safe: line breaks become spaces, so that
// a subject or address cannot start a header field of its own, other
// control characters are dropped, and a byte that is not UTF-8 becomes
// U+FFFD.
func sanitize(s string) string {
	if !utf8.ValidString(s) {
		// strings.Map gives each such byte as utf8.RuneError.
		s = strings.Map(func(r rune) rune { return r }, s)
	}
	return sanitizeBytes(s)
}

// sanitizeBytes is sanitize that leaves the bytes that are not UTF-8 as
// they are (the control characters it removes are all ASCII).
func sanitizeBytes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r' || c == '\n' || c == '\t':
			b.WriteByte(' ')
		case c < 0x20 || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}

// typedText is header text typed on the command line or at a prompt (a
// subject, a field given with -a, a display name) in UTF-8: in 8 bits
// but not UTF-8 and with no UTF-8 character in it (Latin-1 typed where
// the terminal is not UTF-8), it is read as windows-1252, as a body like
// it is (textScan's latin) and as sendmail reads -F (addr.HeaderText).
// Its bytes were U+FFFD, the letters lost. What is left that is not
// UTF-8 (a stray byte in UTF-8) becomes U+FFFD where it is sanitized.
func typedText(s string) string { return latinFallback(s) }

// typedAddress is typedText for an address with its display name, when
// the address itself is UTF-8; one that is not is kept as typed, for
// sendDraft to refuse it (read as windows-1252 it would name someone
// else).
func typedAddress(a string) string {
	if utf8.ValidString(addrOf(a)) {
		return validUTF8(typedText(a))
	}
	return a
}

// isHeaderLine reports whether arg has the form "Name: value": a field
// name (printable ASCII without colon or space), a colon, then blank
// space or nothing.
func isHeaderLine(arg string) bool {
	name, value, ok := strings.Cut(arg, ":")
	if !ok || name == "" || value != "" && value[0] != ' ' && value[0] != '\t' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] > '~' {
			return false
		}
	}
	return true
}

// addHeader adds a header line given with -a. Like any such line, a
// From is written as given; the envelope sender stays the user (or -r),
// as bsd-mailx leaves it. Text that is not ASCII is encoded as -s and
// the names of -r and -c are (encodeField): written in 8 bits, it went
// out as only a reader of RFC 6532 (and a relay with SMTPUTF8) takes it.
func (d *draft) addHeader(line string) {
	d.headers = append(d.headers, encodeField(sanitize(typedText(line))))
}

// addressFields are the fields whose value is a list of addresses: in
// them only a display name, a comment or a group's name may be an
// encoded word (RFC 2047 5), never an address.
var addressFields = map[string]bool{
	"from": true, "sender": true, "reply-to": true, "to": true, "cc": true, "bcc": true,
	"resent-from": true, "resent-sender": true, "resent-to": true, "resent-cc": true, "resent-bcc": true,
	"mail-followup-to": true, "mail-reply-to": true, "disposition-notification-to": true,
	"return-receipt-to": true, "errors-to": true,
}

// structuredFields are fields of a syntax with no room for an encoded
// word (an identifier, a date, a MIME parameter, a URL): a value given
// for them is written as it is.
var structuredFields = map[string]bool{
	"date": true, "message-id": true, "in-reply-to": true, "references": true,
	"resent-date": true, "resent-message-id": true, "return-path": true, "received": true,
	"mime-version": true, "archived-at": true, "autocrypt": true, "dkim-signature": true,
	"authentication-results": true,
}

// encodeField gives a header line "Name: value" whose value is not ASCII
// with RFC 2047 encoded words for its text: the whole value of an
// unstructured field (Subject, Comments, X-Anything), as -s is encoded
// (headerText); the display names alone in an address field, as those
// of -r and -c are (formatAddr); each keyword of Keywords on its own
// (encodePhrases). The value of a structured field, and
// one that is ASCII, is kept as it is. line is valid UTF-8 (sanitize).
func encodeField(line string) string {
	name, value, _ := strings.Cut(line, ":")
	if isASCII(value) {
		return line
	}
	key := strings.ToLower(name)
	switch {
	case addressFields[key]:
		value = encodeAddresses(strings.TrimSpace(value))
	case key == "keywords":
		value = encodePhrases(strings.TrimSpace(value))
	case structuredFields[key] || strings.HasPrefix(key, "content-") || strings.HasPrefix(key, "list-") || strings.HasPrefix(key, "arc-"):
		return line
	default:
		value = headerText(strings.TrimSpace(value))
	}
	return name + ": " + value
}

// headerText gives the value of an unstructured field (a subject, a
// field given with -a): RFC 2047 encoded words where s is not ASCII, as
// go-message writes them (SetText).
func headerText(s string) string {
	var h message.Header
	h.SetText("Subject", s)
	return h.Get("Subject")
}

// isASCII reports whether s has no byte of 0x80 or over.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// encodeAddresses gives an address list (a field's value) with each
// element that is not ASCII formatted as formatAddr formats one given
// with -c, and the name of a group as package addr formats a display
// name; the rest, ASCII, is kept as it was written, with the commas,
// colons and semicolons that separate the elements (outside quotes,
// comments, angle brackets and domain literals).
func encodeAddresses(v string) string {
	var b strings.Builder
	put := func(elem string, group bool) {
		core := strings.TrimSpace(elem)
		if isASCII(core) {
			b.WriteString(elem)
			return
		}
		lead := strings.Index(elem, core)
		b.WriteString(elem[:lead])
		switch m, err := gomail.ParseAddress(core); {
		case group:
			if name := displayName(core); name != "" {
				b.WriteString(addr.Phrase(name))
				if lead+len(core) == len(elem) {
					// Python's email wants white space after an
					// encoded word, before the colon too.
					b.WriteByte(' ')
				}
			} else {
				b.WriteString(core)
			}
		case err == nil && m.Name == "":
			b.WriteString(core) // an address alone, in UTF-8 (RFC 6532)
		default:
			b.WriteString(formatAddr(core))
		}
		b.WriteString(elem[lead+len(core):])
	}
	splitList(v, ",;:", func(elem string, sep byte) {
		put(elem, sep == ':')
		if sep != 0 {
			b.WriteByte(sep)
		}
	})
	return b.String()
}

// splitList calls put with each element of the list v and the separator
// that ends it (0 for the last): one of seps, outside quotes, comments,
// angle brackets and domain literals.
func splitList(v, seps string, put func(elem string, sep byte)) {
	depth, quoted, angle, literal, start := 0, false, false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && (quoted || depth > 0 || literal):
			i++ // a quoted pair
		case quoted:
			quoted = c != '"'
		case depth > 0:
			switch c {
			case '(':
				depth++
			case ')':
				depth--
			}
		case literal:
			literal = c != ']'
		case c == '"':
			quoted = true
		case c == '(':
			depth++
		case c == '[':
			literal = true
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case angle:
		case strings.IndexByte(seps, c) >= 0:
			put(v[start:i], c)
			start = i + 1
		}
	}
	put(v[start:], 0)
}

// encodePhrases gives a list of phrases, the value of Keywords (RFC 5322
// 3.6.5), with each phrase that is not ASCII written as a display name
// is (addr.Phrase: an encoded word stands for a phrase, RFC 2047 5) and
// the commas between them, outside quotes and comments, kept: encoded
// whole, as an unstructured field is, the list was read as a single
// keyword. An ASCII phrase is kept as it was written.
func encodePhrases(v string) string {
	var b strings.Builder
	put := func(elem string) {
		core := strings.TrimSpace(elem)
		if isASCII(core) {
			b.WriteString(elem)
			return
		}
		lead := strings.Index(elem, core)
		b.WriteString(elem[:lead])
		// A comment is kept as text of the keyword: the
		// parser of display names drops it.
		name := displayName(core)
		if name == "" || strings.ContainsRune(core, '(') {
			name = core
		}
		b.WriteString(addr.Phrase(name))
		b.WriteString(elem[lead+len(core):])
	}
	splitList(v, ",", func(elem string, sep byte) {
		put(elem)
		if sep != 0 {
			b.WriteByte(sep)
		}
	})
	return b.String()
}

// addList appends the comma-separated addresses in arg, sanitised.
func addList(list []string, arg string) []string {
	for _, a := range splitAddrs(sanitizeBytes(arg)) {
		// Only a display name may hold bytes that are not UTF-8:
		// they are read as typedText reads them. An address that
		// is not UTF-8 is kept as typed, for sendDraft to refuse it
		// as it is.
		a = typedAddress(strings.TrimSpace(a))
		if a != "" {
			list = append(list, a)
		}
	}
	return list
}

// addRecipients appends the recipients a user typed in one argument:
// addresses separated by commas or, where an address has no display
// name, comment or quotes, by blank space, as BSD mail splits them
// ("nu1 nu2" is two recipients, "Zoë Doe <zoe@example.org>" one).
func addRecipients(list []string, arg string) []string {
	for _, a := range addList(nil, arg) {
		if strings.ContainsAny(a, "<(\"") {
			list = append(list, a)
			continue
		}
		list = append(list, strings.Fields(a)...)
	}
	return list
}

// splitAddrs splits an address list at commas outside quotes and angle
// brackets. It is not package addr's list splitter, which also splits at
// ';' and skips commas in comments ("a;b" is one recipient here, two
// there), so mail's command line keeps its own.
func splitAddrs(s string) []string {
	var out []string
	quoted, angle, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++ // a quoted pair: an escaped quote does not end the quotes
			}
		case '"':
			quoted = !quoted
		case '<':
			angle = !quoted
		case '>':
			angle = false
		case ',':
			if !quoted && !angle {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// formatAddrs renders addresses for a header field: a parsable mailbox
// is re-encoded (RFC 2047 for a non-ASCII name); a bare local name such
// as "root" is kept as typed.
func formatAddrs(list []string) string {
	parts := make([]string, 0, len(list))
	for _, a := range list {
		parts = append(parts, formatAddr(a))
	}
	return strings.Join(parts, ", ")
}

// formatAddr renders one address of formatAddrs. One that does not
// parse is kept as typed, but for a display name that is not ASCII
// before an address in angle brackets that has no domain ("Zoë <zoe>",
// a local name): it is encoded still, as it is where the address
// parses.
func formatAddr(a string) string {
	if m, err := gomail.ParseAddress(a); err == nil && m.Name != "" {
		return m.String()
	} else if err == nil {
		return m.Address
	}
	lt := strings.LastIndexByte(a, '<')
	if isASCII(a) || lt <= 0 || !strings.HasSuffix(a, ">") {
		return a
	}
	local := strings.TrimSpace(a[lt+1 : len(a)-1])
	name := displayName(a[:lt])
	if name == "" || local == "" || strings.ContainsAny(local, "<>") {
		return a
	}
	return addr.Format(name, local)
}

// displayName reads s, a display name as it is written (quoted, with
// encoded words), as the address parser reads one: "" when it cannot.
func displayName(s string) string {
	m, err := gomail.ParseAddress(s + " <local@stand.in>")
	if err != nil {
		return ""
	}
	return m.Name
}

// recipients are the envelope recipients: To, Cc and Bcc.
func (d *draft) recipients() []string {
	var out []string
	out = append(out, d.to...)
	out = append(out, d.cc...)
	return append(out, d.bcc...)
}

// textType gives the charset of a text body and a transfer encoding
// that survives any relay (quoted-printable for 8-bit text or lines over
// 998 bytes).
func textType(body *textScan) (charset, enc string) {
	switch {
	case body.nonASCII && (!body.invalid || body.latin()):
		// Latin-1 text is sent converted (sentConverted).
		return "utf-8", "quoted-printable"
	case body.nonASCII:
		// Not UTF-8 and of unknown charset: it is left for the
		// reader to guess.
		return "", "quoted-printable"
	case body.long:
		return "us-ascii", "quoted-printable"
	}
	return "us-ascii", "7bit"
}

// textHeader describes a text body as textType does.
func textHeader(h *message.Header, body *textScan) {
	charset, enc := textType(body)
	params := map[string]string{}
	if charset != "" {
		params["charset"] = charset
	}
	h.SetContentType("text/plain", params)
	h.Set("Content-Transfer-Encoding", enc)
}

// sentConverted reports whether the text is sent converted from
// windows-1252 to UTF-8: it is in 8 bits but not UTF-8 (textScan's
// latin), and no charset was given for it.
func sentConverted(scan *textScan) bool { return scan.nonASCII && scan.latin() }

// textReader reads the text as it is sent: as typed, or, with convert
// (sentConverted), converted from windows-1252 to UTF-8.
func (d *draft) textReader(convert bool) io.Reader {
	if convert {
		return &latinReader{r: d.bodyReader(), cs: "windows-1252", in: make([]byte, 32<<10)}
	}
	return d.bodyReader()
}

// givenMIME gives the values of the last Content-Type and
// Content-Transfer-Encoding lines given with -a, and those lines'
// indexes in d.headers (-1 for none).
func (d *draft) givenMIME() (ctype, enc string, ctAt, encAt int) {
	ctAt, encAt = -1, -1
	for i, l := range d.headers {
		name, value, _ := strings.Cut(l, ":")
		switch {
		case strings.EqualFold(name, "Content-Type"):
			ctype, ctAt = strings.TrimSpace(value), i
		case strings.EqualFold(name, "Content-Transfer-Encoding"):
			enc, encAt = strings.TrimSpace(value), i
		}
	}
	return ctype, enc, ctAt, encAt
}

// checkMIME refuses, before the body is read, a Content-Type given with
// -a that is not a media type (or is multipart without a boundary) and
// a Content-Transfer-Encoding the body cannot be written in: found when
// the message was built, they left the text in dead.letter.
func (d *draft) checkMIME() error {
	ctype, enc, _, _ := d.givenMIME()
	if ctype != "" {
		mt, params, err := mime.ParseMediaType(ctype)
		if err != nil {
			return fmt.Errorf("header line \"Content-Type: %s\": %w", ctype, err)
		}
		if strings.HasPrefix(mt, "multipart/") && params["boundary"] == "" {
			return fmt.Errorf("header line \"Content-Type: %s\": a multipart type needs a boundary parameter", ctype)
		}
	}
	switch strings.ToLower(enc) {
	case "", "7bit", "8bit", "binary", "quoted-printable", "base64":
		return nil
	}
	return fmt.Errorf("header line \"Content-Transfer-Encoding: %s\": the body can be written in 7bit, 8bit, binary, quoted-printable or base64", enc)
}

// bodyForm is how a body without attachments is written.
type bodyForm struct {
	// ctype and enc are the values of its Content-Type and
	// Content-Transfer-Encoding.
	ctype, enc string
	// convert: the text is sent converted to UTF-8 (sentConverted).
	convert bool
	// lines are the -a lines written for those fields, by their
	// index in the draft's headers: the others of those names are
	// left out.
	lines map[int]string
}

// form says how the body without attachments is written, with the
// Content-Type and Content-Transfer-Encoding given with -a (as
// bsd-mailx takes them). A given charset, whichever it is, is kept and
// the text sent as typed; a text type given without one gets the charset
// the text would have as text/plain (and is converted as it would be),
// as GNU mailutils adds one; a type that is not text is sent as typed
// too, in base64 where it is not 7-bit. A given transfer encoding is the
// one the body is written in, once, when the body fits it: 7bit only
// for ASCII, 8bit and binary only without lines over 998 bytes; else
// (as for the body of a multipart or message type, which RFC 2045 6.4
// keeps in 7bit, 8bit or binary) it is left out for the one the body
// needs.
func (d *draft) form(scan *textScan) bodyForm {
	charset, enc := textType(scan)
	f := bodyForm{enc: enc, convert: sentConverted(scan), lines: map[int]string{}}
	params := map[string]string{}
	if charset != "" {
		params["charset"] = charset
	}
	f.ctype = mime.FormatMediaType("text/plain", params)
	given, givenEnc, ctAt, encAt := d.givenMIME()
	mt := "text/plain"
	if gmt, gparams, err := mime.ParseMediaType(given); err == nil {
		mt, f.ctype = gmt, given
		switch {
		case !strings.HasPrefix(mt, "text/") || gparams["charset"] != "":
			f.convert = false
		case charset != "":
			f.ctype = strings.TrimRight(given, "; \t") + "; charset=" + charset
		}
		name, _, _ := strings.Cut(d.headers[ctAt], ":")
		f.lines[ctAt] = name + ": " + f.ctype
	}
	plain := !scan.nonASCII && !scan.long
	composite := strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/")
	switch {
	case plain:
		f.enc = "7bit"
	case composite && scan.long:
		f.enc = "binary"
	case composite:
		f.enc = "8bit"
	case !strings.HasPrefix(mt, "text/"):
		f.enc = "base64"
	}
	switch e := strings.ToLower(givenEnc); {
	case e == "7bit" && plain,
		(e == "8bit" || e == "binary") && !scan.long,
		(e == "quoted-printable" || e == "base64") && !composite:
		f.enc = givenEnc
		f.lines[encAt] = d.headers[encAt]
	}
	return f
}

// build writes the message: the header (go-message encodes a non-ASCII
// Subject per RFC 2047), then the body as text/plain or, with
// attachments, a multipart/mixed of the text and one part per file.
// There is never a Bcc field: Bcc recipients are envelope-only.
func (d *draft) build(w io.Writer, now time.Time) error {
	// go-message's Header.Set puts a new field first, so the fields
	// are set in reverse of the order they are written in.
	var h gomail.Header
	h.Set("User-Agent", "homepost mail")
	if d.messageID != "" {
		h.Set("Message-ID", d.messageID)
	}
	if d.references != "" {
		h.Set("References", sanitize(d.references))
	}
	if d.inReplyTo != "" {
		h.Set("In-Reply-To", sanitize(d.inReplyTo))
	}
	h.SetDate(now)
	if d.subject != "" {
		h.Set("Subject", headerText(sanitize(typedText(d.subject))))
	}
	if len(d.cc) > 0 {
		h.Set("Cc", formatAddrs(d.cc))
	}
	if len(d.to) > 0 {
		h.Set("To", formatAddrs(d.to))
	}
	if d.from != "" {
		h.Set("From", formatAddrs([]string{sanitize(typedAddress(d.from))}))
	} else if d.genFrom != "" {
		h.Set("From", d.genFrom)
	}
	scan, err := d.scanText()
	if err != nil {
		return err
	}
	if len(d.attach) == 0 {
		// Written here, not by go-message, whose writer refuses a
		// text in any charset but UTF-8 and US-ASCII.
		f := d.form(scan)
		h.Set("Content-Transfer-Encoding", f.enc)
		h.Set("Content-Type", f.ctype)
		d.setHeaders(&h.Header, f.lines)
		if !h.Has("MIME-Version") {
			h.Set("MIME-Version", "1.0")
		}
		if err := textproto.WriteHeader(w, h.Header.Header); err != nil {
			return err
		}
		bw, err := encoder(w, f.enc)
		if err != nil {
			return err
		}
		if _, err := io.Copy(bw, d.textReader(f.convert)); err != nil {
			return err
		}
		return bw.Close()
	}
	h.SetContentType("multipart/mixed", map[string]string{"boundary": d.multipartBoundary()})
	d.setHeaders(&h.Header, nil)
	// go-message writes the header; the parts are written here, as its
	// writer of parts refuses a text in any charset but UTF-8 and
	// US-ASCII (an attachment in Latin-1, see attachCharset).
	top, err := message.CreateWriter(w, h.Header)
	if err != nil {
		return err
	}
	mw := textproto.NewMultipartWriter(top)
	if err := mw.SetBoundary(d.multipartBoundary()); err != nil {
		return err
	}
	var th message.Header
	textHeader(&th, scan)
	pw, err := createPart(mw, th)
	if err != nil {
		return err
	}
	if _, err := io.Copy(pw, d.textReader(sentConverted(scan))); err != nil {
		return err
	}
	if err := pw.Close(); err != nil {
		return err
	}
	for _, a := range d.attach {
		if err := attachFile(mw, a.path, a.ctype); err != nil {
			return err
		}
	}
	return mw.Close()
}

// createPart starts a part of mw with header h, whose body is encoded as
// h's Content-Transfer-Encoding says (encoder).
func createPart(mw *textproto.MultipartWriter, h message.Header) (io.WriteCloser, error) {
	w, err := mw.CreatePart(h.Header)
	if err != nil {
		return nil, err
	}
	return encoder(w, h.Get("Content-Transfer-Encoding"))
}

// encoder writes a body to w in the transfer encoding enc, as go-message
// encodes it: 7bit, 8bit and binary as it is (for a text that fits
// them, textType and draft.form), quoted-printable, or base64 in lines
// of 76 characters.
func encoder(w io.Writer, enc string) (io.WriteCloser, error) {
	switch strings.ToLower(enc) {
	case "7bit", "8bit", "binary":
		return nopCloser{w}, nil
	case "quoted-printable":
		return quotedprintable.NewWriter(w), nil
	case "base64":
		return base64.NewEncoder(base64.StdEncoding, &base64Lines{w: w}), nil
	default:
		return nil, fmt.Errorf("content transfer encoding %q", enc)
	}
}

// nopCloser is a part's writer that has nothing to flush at its end.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// base64Lines breaks base64 text into lines of 76 characters (RFC 2045
// 6.8). The break after a full line is written when more follows, so
// that the part does not end in an empty line.
type base64Lines struct {
	w io.Writer
	n int // the length of the line written so far
}

func (l *base64Lines) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if l.n == 76 {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return written, err
			}
			l.n = 0
		}
		k := min(len(p), 76-l.n)
		m, err := l.w.Write(p[:k])
		written += m
		l.n += m
		if err != nil {
			return written, err
		}
		p = p[k:]
	}
	return written, nil
}

// attachFile writes one attachment part, base64-encoded as it is read,
// of content type ctype ("": guessed from its name and first bytes).
func attachFile(mw *textproto.MultipartWriter, path, ctype string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("attachment: %w", err)
	}
	defer f.Close()
	head := make([]byte, 8192+1)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("attachment: %w", err)
	}
	var ah message.Header
	guessed := ctype == ""
	if guessed {
		ctype = guessType(path, head[:n])
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("attachment %s: content type %q: %w", path, ctype, err)
	}
	if strings.HasPrefix(mt, "text/") {
		cs := params["charset"]
		if cs == "" {
			if cs, err = attachCharset(f, head[:n]); err != nil {
				return fmt.Errorf("attachment: %w", err)
			}
			switch {
			case cs != "":
				params["charset"] = cs
			case guessed:
				mt = "application/octet-stream"
			}
		}
	}
	ah.SetContentType(mt, params)
	// RFC 2231 for a name that is not ASCII (filename*=utf-8''...), as
	// MIME parameters are meant to be written; go-message's
	// SetContentDisposition writes an encoded word inside quotes, which
	// RFC 2047 5 forbids and Python's email reads with its backslashes.
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": filepath.Base(path)})
	if disp == "" {
		disp = "attachment"
	}
	ah.Set("Content-Disposition", disp)
	ah.Set("Content-Transfer-Encoding", "base64")
	aw, err := createPart(mw, ah)
	if err != nil {
		return err
	}
	if _, err := aw.Write(head[:n]); err != nil {
		return err
	}
	if _, err := io.Copy(aw, f); err != nil {
		return fmt.Errorf("attachment: %w", err)
	}
	return aw.Close()
}

// attachCharset names the charset of a text attachment, which is sent
// as it is, base64-encoded, for the recipient to get its very bytes
// back: "us-ascii" for ASCII, "utf-8" for UTF-8, and for text in 8 bits
// without a single UTF-8 character of more than one byte (textScan's
// latin: a file in Latin-1 or windows-1252) "iso-8859-1" or, with the
// typographic marks of windows-1252 in 0x80-0x9F (Latin-1's control
// characters), "windows-1252": s-nail's charset-8bit, and what mail(1)
// reads such text as. It is "" for what has no charset that can be
// named for sure: a file with a NUL byte (binary, or UTF-16), one in 8
// bits with other control bytes, a UTF-16 byte order mark or a byte
// that windows-1252 leaves undefined (no Latin text), and UTF-8 with a
// stray byte. Without a charset a reader takes the text for US-ASCII
// (RFC 2046 4.1.2). The whole file is read for it and f taken back to
// where it was (just past head), as the body is read twice; a file that
// cannot be read again (a pipe: mail -a <(cmd)) is judged by head, its
// first 8 KiB.
func attachCharset(f *os.File, head []byte) (string, error) {
	s := &charsetScan{}
	s.Write(head)
	whole := len(head) <= 8192
	if !whole {
		pos, err := f.Seek(0, io.SeekCurrent)
		if err == nil {
			if _, err := io.Copy(s, f); err != nil {
				return "", err
			}
			if _, err := f.Seek(pos, io.SeekStart); err != nil {
				return "", err
			}
			whole = true
		}
	}
	// (A character cut off at the end of the file is no UTF-8.)
	invalid := s.invalid || whole && len(s.carry) > 0
	switch {
	case s.nul:
		return "", nil
	case invalid && !s.multibyte && !s.control && !s.undefined &&
		!bytes.HasPrefix(head, []byte("\xff\xfe")) && !bytes.HasPrefix(head, []byte("\xfe\xff")):
		if s.c1 {
			return "windows-1252", nil
		}
		return "iso-8859-1", nil
	case invalid:
		return "", nil
	case s.multibyte:
		return "utf-8", nil
	}
	return "us-ascii", nil
}

// charsetScan is textScan that also notes the bytes that tell text in 8
// bits from a binary file, and Latin-1 from windows-1252.
type charsetScan struct {
	textScan
	nul       bool // a NUL byte
	control   bool // a control byte that sniff takes for binary
	c1        bool // a byte of 0x80 to 0x9F
	undefined bool // a byte windows-1252 leaves undefined
}

func (s *charsetScan) Write(p []byte) (int, error) {
	for _, c := range p {
		switch {
		case c == 0:
			s.nul = true
		case c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f':
			s.control = true
		case c == 0x81 || c == 0x8d || c == 0x8f || c == 0x90 || c == 0x9d:
			s.undefined = true
		case c >= 0x80 && c < 0xa0:
			s.c1 = true
		}
	}
	return s.textScan.Write(p)
}

// setHeaders puts the -a header lines in place of the fields of the same
// names, at the top of the header in the order given. The
// Content-Type and Content-Transfer-Encoding lines are written as fields
// has them by their index (draft.form), and left out where it has
// none: with attachments (fields nil) the MIME structure is homepost's,
// which they would break.
func (d *draft) setHeaders(h *message.Header, fields map[int]string) {
	var keep []string
	for i, l := range d.headers {
		name, _, _ := strings.Cut(l, ":")
		if strings.EqualFold(name, "Content-Type") || strings.EqualFold(name, "Content-Transfer-Encoding") {
			var ok bool
			if l, ok = fields[i]; !ok {
				continue
			}
		}
		h.Del(name)
		keep = append(keep, l)
	}
	// Fields are written last added first.
	for i := len(keep) - 1; i >= 0; i-- {
		h.AddRaw([]byte(keep[i] + "\r\n"))
	}
}

// guessType names the media type of an attachment: by its extension,
// else by sniffing its first bytes (data: the first 8193 bytes at most,
// which tell whether the file is longer than the 8192 sniffed).
func guessType(path string, data []byte) string {
	if t := mime.TypeByExtension(filepath.Ext(path)); t != "" {
		mt, _, err := mime.ParseMediaType(t)
		if err == nil {
			return mt
		}
	}
	return sniff(data)
}

// magic lists the signatures of common attachment types, for files whose
// name says nothing. (net/http's sniffer would do, at the price of
// linking all of net/http into a binary that starts for every message.)
var magic = []struct{ prefix, typ string }{
	{"%PDF-", "application/pdf"},
	{"\x89PNG\r\n\x1a\n", "image/png"},
	{"\xff\xd8\xff", "image/jpeg"},
	{"GIF87a", "image/gif"},
	{"GIF89a", "image/gif"},
	{"PK\x03\x04", "application/zip"},
	{"\x1f\x8b", "application/gzip"},
	{"%!PS", "application/postscript"},
}

// sniff guesses a media type from content: a known signature, else
// text/plain for UTF-8 text without control bytes, else octet-stream.
func sniff(data []byte) string {
	for _, m := range magic {
		if bytes.HasPrefix(data, []byte(m.prefix)) {
			return m.typ
		}
	}
	head := data[:min(len(data), 8192)]
	if !utf8.Valid(head) && len(data) <= 8192 {
		return "application/octet-stream"
	}
	for _, c := range head {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' {
			return "application/octet-stream"
		}
	}
	return "text/plain"
}

// foldHeader folds header lines longer than 78 characters at spaces
// (RFC 5322 2.2.3), so that a long encoded Subject or a long address
// list stays within the line length limits of mail transport.
func foldHeader(h []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(h, []byte{'\n'}) {
		// Never fold right after the field name: some readers keep
		// the leading white space of such a value.
		min := 1
		if i := bytes.IndexByte(line, ':'); i >= 0 && line[0] != ' ' && line[0] != '\t' {
			min = i + 2
		}
		for len(line) > 79 {
			cut := bytes.LastIndexByte(line[:78], ' ')
			if cut <= min {
				// No space early enough: break at the next one.
				from := max(78, min+1)
				if from >= len(line) {
					break
				}
				next := bytes.IndexByte(line[from:], ' ')
				if next < 0 {
					break
				}
				cut = from + next
			}
			if len(bytes.TrimSpace(line[cut:])) == 0 {
				break // only trailing blanks: nothing to move
			}
			out = append(out, line[:cut]...)
			out = append(out, '\n')
			line = line[cut:]
			min = 1
		}
		out = append(out, line...)
	}
	return out
}
