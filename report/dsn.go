package report

// Delivery status notifications (RFC 3464): the bounce a sender receives
// when a message could not be delivered, in the shape Postfix gives it,
// so that mail clients and people recognise it: a human-readable part, a
// message/delivery-status part, and the returned message: the whole of
// it (message/rfc822, byte for byte) up to BounceSizeLimit, as Postfix
// returns it up to bounce_size_limit, and only its header
// (text/rfc822-headers) when it is larger or the sender asked for the
// header only (RET=HDRS). The message header is go-message's; the parts
// are written by hand: each field of the delivery-status part is
// checked and folded as RFC 3464 wants, and the original is copied byte
// for byte, neither of which go-message's writers do.
//
// What is not ASCII is labelled as RFC 6533 wants, as Postfix labels the
// DSN of an SMTPUTF8 message: a delivery-status part holding UTF-8 (an
// address, a reply) is message/global-delivery-status, with the address
// type "utf-8" for an address that is not ASCII; a returned message or
// header whose header fields hold UTF-8 is message/global or
// message/global-headers. A DSN that is all ASCII keeps RFC 3464's
// types.
//
// A DSN is never sent to the null sender: a bounce of a bounce could
// loop between two mailers forever (RFC 5321 4.5.5).

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"

	"homepost/addr"
)

// DSN is what a delivery status notification says about one message.
type DSN struct {
	Host    string    // this host's name: Reporting-MTA and From
	QueueID string    // the message's queue ID
	Sender  string    // the envelope sender: the DSN goes there
	Arrival time.Time // when the message was queued
	// HeadersOnly returns the message's header only, whatever its size:
	// the sender asked for it (RET=HDRS, sendmail -R hdrs).
	HeadersOnly bool
	// EnvID is the sender's envelope identifier (ENVID, sendmail -V),
	// returned as Original-Envelope-Id (RFC 3464 2.2.1) so that the
	// sender can tell which of its messages the DSN is about.
	EnvID      string
	Recipients []Recipient
}

// Recipient is the status of one recipient.
type Recipient struct {
	Final      string // the address delivery was attempted to
	Original   string // the address as submitted, if different ("" omits it)
	Action     string // "failed" or "delayed"
	Status     string // enhanced status code, "5.1.1"
	Diagnostic string // why: the remote reply or the local reason
}

// maxHeader bounds the original header copied into the DSN. Past it,
// only the fields that name the message (keptFields) are copied, each
// at most maxKeptField bytes, and the text for people says where the
// header was cut.
const maxHeader = 256 << 10

// keptFields are the fields copied from past maxHeader: those the text
// for people quotes (Subject, Date, To), and those by which the sender
// tells which message came back (Message-ID, From, Cc). Lower case.
var keptFields = []string{"from", "to", "cc", "subject", "date", "message-id"}

// maxKeptField bounds a field copied from past maxHeader: the longest
// line RFC 5322 (2.1.1) allows, so that the cut header needs no
// encoding that a longer line would.
const maxKeptField = 998

// BounceSizeLimit is the largest message a DSN returns whole, in bytes,
// as Postfix's bounce_size_limit (whose default it is): a larger one
// comes back as its header only, and the DSN says so.
const BounceSizeLimit = 50000

// ShouldBounce reports whether a DSN may be sent to sender: not to the
// null sender, and not to a MAILER-DAEMON, which is what a bounce's own
// sender looks like once a relay has rewritten it.
func ShouldBounce(sender string) bool {
	s := strings.TrimSpace(sender)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	if s == "" {
		return false
	}
	local, _, _ := strings.Cut(s, "@")
	return !strings.EqualFold(local, "mailer-daemon")
}

// BuildDSN returns the DSN for m (LF line endings, as messages are stored),
// with original, the message it reports on: read up to BounceSizeLimit+1
// bytes, and up to the end of its header when that is longer. It fails
// when m has no recipient or ShouldBounce(m.Sender) is false.
func BuildDSN(m DSN, original io.Reader) ([]byte, error) {
	if !ShouldBounce(m.Sender) {
		return nil, fmt.Errorf("report: dsn: no bounce to the null sender or a mailer-daemon (%q)", m.Sender)
	}
	if len(m.Recipients) == 0 {
		return nil, errors.New("report: dsn: no recipient to report")
	}
	host := clean(m.Host)
	if host == "" {
		host = "localhost"
	}
	failed := false
	for _, r := range m.Recipients {
		if r.Action != "delayed" {
			failed = true
		}
	}
	whole, hdr, err := readOriginal(original, failed && !m.HeadersOnly)
	if err != nil {
		return nil, fmt.Errorf("report: dsn: read the original message: %w", err)
	}
	returned := returnWhole
	switch {
	case whole != nil:
	case !failed:
		returned = returnDelayed
	case m.HeadersOnly:
		returned = returnAsked
	default:
		returned = returnTooBig
	}
	boundary := newBoundary()
	now := time.Now()
	subject := "Undelivered Mail Returned to Sender"
	if !failed {
		subject = "Delayed Mail (still being retried)"
	}
	sender := clean(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(m.Sender), "<"), ">"))

	var ct mail.Header
	ct.SetContentType("multipart/report", map[string]string{"report-type": "delivery-status", "boundary": boundary})
	var b bytes.Buffer
	writeHeader(&b, []field{ // a bytes.Buffer does not fail
		{"From", "MAILER-DAEMON@" + host + " (Mail Delivery System)"},
		{"To", sender},
		{"Subject", subject},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", "<" + now.UTC().Format("20060102150405") + "." + strings.TrimPrefix(boundary, "homepost-") + "@" + host + ">"},
		{"Auto-Submitted", "auto-replied"},
		{"MIME-Version", "1.0"},
		{"Content-Type", ct.Get("Content-Type")},
		{"Content-Transfer-Encoding", topEncoding(whole)},
	})
	b.WriteString("This is a MIME-encapsulated message.\n\n")

	fmt.Fprintf(&b, "--%s\n", boundary)
	named := hdr
	if whole != nil {
		named, _ = readHeader(bytes.NewReader(whole)) // read from memory: no error
	}
	var part bytes.Buffer
	humanPart(&part, host, clean(m.QueueID), returned, m.Recipients, describe(named.text), hdr)
	b.WriteString("Content-Description: Notification\nContent-Type: text/plain; charset=utf-8\n")
	if !isASCII(part.Bytes()) {
		// A name, an address or a reply in UTF-8: 8-bit text, which
		// the part must say (RFC 2045 6.1: no label is 7bit).
		b.WriteString("Content-Transfer-Encoding: 8bit\n")
	}
	b.WriteByte('\n')
	b.Write(part.Bytes())

	fmt.Fprintf(&b, "\n--%s\n", boundary)
	part.Reset()
	if id := clean(m.EnvID); id != "" {
		fmt.Fprintf(&part, "Original-Envelope-Id: %s\n", id)
	}
	fmt.Fprintf(&part, "Reporting-MTA: dns; %s\n", host)
	if id := clean(m.QueueID); id != "" {
		fmt.Fprintf(&part, "X-Homepost-Queue-ID: %s\n", id)
	}
	if !m.Arrival.IsZero() {
		fmt.Fprintf(&part, "Arrival-Date: %s\n", m.Arrival.Format(time.RFC1123Z))
	}
	for _, r := range m.Recipients {
		part.WriteByte('\n')
		recipientFields(&part, host, r)
	}
	if isASCII(part.Bytes()) {
		b.WriteString("Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n")
	} else {
		// RFC 3464's fields are ASCII; RFC 6533 gives those
		// that hold UTF-8 their own type, whose text is 8-bit.
		b.WriteString("Content-Description: Delivery report\nContent-Type: message/global-delivery-status\n")
		b.WriteString("Content-Transfer-Encoding: 8bit\n\n")
	}
	b.Write(part.Bytes())

	fmt.Fprintf(&b, "\n--%s\n", boundary)
	if whole != nil {
		// The part ends before the line break that precedes the
		// boundary (RFC 2046 5.1.1): the message's own last byte, line
		// break or not, is kept.
		b.WriteString("Content-Description: Undelivered Message\n")
		if utf8Header(named.text) {
			b.WriteString("Content-Type: message/global\n") // RFC 6532 3.7
		} else {
			b.WriteString("Content-Type: message/rfc822\n")
		}
		fmt.Fprintf(&b, "Content-Transfer-Encoding: %s\n\n", encoding(whole))
		b.Write(whole)
	} else {
		b.WriteString("Content-Description: Undelivered Message Headers\n")
		if utf8Header(hdr.text) {
			b.WriteString("Content-Type: message/global-headers\n") // RFC 6533
		} else {
			b.WriteString("Content-Type: text/rfc822-headers\n")
		}
		if !isASCII(hdr.text) {
			b.WriteString("Content-Transfer-Encoding: 8bit\n")
		}
		b.WriteByte('\n')
		b.Write(hdr.text)
	}
	fmt.Fprintf(&b, "\n--%s--\n", boundary)
	return b.Bytes(), nil
}

// What a DSN returns of the message, which its human part says.
const (
	returnWhole   = iota // the whole message
	returnTooBig         // the header: the message is over BounceSizeLimit
	returnAsked          // the header: the sender asked (RET=HDRS)
	returnDelayed        // the header: a delay notice
)

// encoding is the Content-Transfer-Encoding of the returned message,
// which message/rfc822 allows only as 7bit, 8bit or binary (RFC 2046
// 5.2.1): binary when it holds a NUL or a line longer than 998 bytes,
// which 8bit does not allow (RFC 2045 2.8).
func encoding(msg []byte) string {
	if bytes.IndexByte(msg, 0) >= 0 {
		return "binary"
	}
	for rest := msg; len(rest) > 0; {
		line, next, _ := bytes.Cut(rest, []byte("\n"))
		if len(bytes.TrimSuffix(line, []byte("\r"))) > 998 {
			return "binary"
		}
		rest = next
	}
	return "8bit"
}

// topEncoding is the DSN's own: a multipart is no narrower than a part
// of it (RFC 2045 6.4).
func topEncoding(whole []byte) string {
	if whole != nil && encoding(whole) == "binary" {
		return "binary"
	}
	return "8bit"
}

// humanPart writes the text for people. It names the message (its
// Subject, Date and To: with several messages out, "Undelivered Mail"
// and an address do not tell which one failed, and not every reader
// shows the returned message), and says where to learn more: the agent's
// log on this host, by the queue ID. Postfix's "please send mail to
// postmaster" would send the user to themselves: postmaster is the user.
// When the returned header was cut (hdr.cut), it says so, and where.
func humanPart(b *bytes.Buffer, host, queueID string, returned int, rs []Recipient, message string, hdr header) {
	fmt.Fprintf(b, "This is the mail system at host %s.\n\n", host)
	var text string
	switch returned {
	case returnWhole:
		text = message + " could not be delivered to one or more recipients. It's attached below."
	case returnTooBig:
		text = message + " could not be delivered to one or more recipients. Only its header is " +
			fmt.Sprintf("attached below: the message is larger than the %d bytes that are returned whole.", BounceSizeLimit)
	case returnAsked:
		text = message + " could not be delivered to one or more recipients. Only its header is " +
			"attached below, as the sender asked (RET=HDRS)."
	default:
		text = message + " could not be delivered for some time. It will be retried until it is too old. " +
			"Its header is attached below."
	}
	b.WriteString(wrap(text, 72) + "\n\n")
	if hdr.cut {
		cut := fmt.Sprintf("Its header (%d bytes) is larger than the %d bytes that are returned of it: "+
			"the header attached below is cut there, and of the rest it keeps only the fields "+
			"From, To, Cc, Subject, Date and Message-ID, each cut at %d bytes.", hdr.size, maxHeader, maxKeptField)
		b.WriteString(wrap(cut, 72) + "\n\n")
	}
	more := "The reason for each recipient follows."
	if queueID != "" {
		more += " The log of the homepost agent on " + host + " tells more: look for the queue ID " + queueID + "."
	}
	b.WriteString(wrap(more, 72) + "\n\n")
	b.WriteString("                   The mail system\n")
	for _, r := range rs {
		fmt.Fprintf(b, "\n%s: %s\n", who(r, host), clean(r.Diagnostic))
	}
}

// describe names a message by its header for the text for people:
// `Your message "SUBJECT" of DATE to TO`, each part there when the
// field is.
func describe(hdr []byte) string {
	var subject, date, to string
	var last *string
	for _, line := range strings.Split(string(hdr), "\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			if last != nil {
				*last += " " + line
			}
			continue
		}
		last = nil
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, f := range []struct {
			name string
			v    *string
		}{{"Subject", &subject}, {"Date", &date}, {"To", &to}} {
			if *f.v == "" && strings.EqualFold(strings.TrimSpace(name), f.name) {
				*f.v = value
				if *f.v == "" {
					*f.v = " " // an empty field still counts as the first
				}
				last = f.v
			}
		}
	}
	d := "Your message"
	if s := display(subject, 200); s != "" {
		d += ` "` + s + `"`
	} else {
		d += " (no subject)"
	}
	if s := display(date, 60); s != "" {
		d += " of " + s
	}
	if s := display(to, 300); s != "" {
		d += " to " + s
	}
	return d
}

// display makes a field's value fit to show in the text for people: its
// encoded words decoded (RFC 2047, in any charset wordDecoder knows; a
// field with a word in another charset is shown as it is written,
// encoded), on one line, without what
// could hide or reorder text on a terminal (C0 and C1 control
// characters, bidi controls, invalid UTF-8: each shown as '?'), and cut
// at max characters.
func display(v string, max int) string {
	v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	if dec, err := wordDecoder.DecodeHeader(v); err == nil {
		v = dec
	}
	var b strings.Builder
	n, space := 0, false
	for i, r := range v {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(v[i:], "\uFFFD"):
			r = '?' // invalid UTF-8
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			space = b.Len() > 0
			continue
		case isControl(r):
			r = '?'
		}
		if n >= max {
			b.WriteString("...")
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
			n++
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// wordDecoder decodes the encoded words of the original's fields for
// the text for people in every charset that go-message's charset
// package knows, found as that package finds them (charsetReader): a
// Subject in ISO-2022-JP or GB2312 reads as one in UTF-8 does, rather
// than being quoted encoded.
var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// charsetReader is go-message's charset.Reader without the package,
// whose init would replace go-message's CharsetReader for the whole
// program (the mail reader sets its own): the charset by its IANA name
// or alias, then with "cs" before it, then by its WHATWG label.
func charsetReader(name string, r io.Reader) (io.Reader, error) {
	enc, err := ianaindex.MIME.Encoding(name)
	if enc == nil {
		enc, err = ianaindex.MIME.Encoding("cs" + name)
	}
	if enc == nil {
		enc, err = htmlindex.Get(name)
	}
	if enc == nil { // ianaindex knows some names without a decoder
		if err == nil {
			err = errors.New("no decoder")
		}
		return nil, fmt.Errorf("report: charset %q: %w", name, err)
	}
	return enc.NewDecoder().Reader(r), nil
}

// isControl reports whether r must not reach a terminal or a text for
// people as it is: a C0 or C1 control character, DEL, or a bidi control
// (U+202A to U+202E, U+2066 to U+2069, the marks), which reorders the
// text displayed after it.
func isControl(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }

// wrap breaks text into lines of at most width characters at spaces (a
// longer word stays whole on its own line).
func wrap(text string, width int) string {
	var b strings.Builder
	line := 0
	for i, w := range strings.Fields(text) {
		n := utf8.RuneCountInString(w)
		if i > 0 {
			if line+1+n > width {
				b.WriteByte('\n')
				line = 0
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(w)
		line += n
	}
	return b.String()
}

// who names a recipient as Postfix does: "<final>", and "(expanded
// from <original>)" when an alias or .forward led there.
func who(r Recipient, host string) string {
	f, o := clean(r.Final), clean(r.Original)
	if o != "" {
		o = addr.Qualify(o, host)
	}
	if o == "" || strings.EqualFold(o, addr.Qualify(f, host)) {
		return "<" + f + ">"
	}
	return "<" + f + "> (expanded from <" + o + ">)"
}

func recipientFields(b *bytes.Buffer, host string, r Recipient) {
	final := addr.Qualify(clean(r.Final), host)
	fmt.Fprintf(b, "Final-Recipient: %s; %s\n", addressType(final), final)
	if o := clean(r.Original); o != "" {
		o = addr.Qualify(o, host)
		fmt.Fprintf(b, "Original-Recipient: %s; %s\n", addressType(o), o)
	}
	action := r.Action
	if action != "delayed" {
		action = "failed"
	}
	fmt.Fprintf(b, "Action: %s\n", action)
	status := clean(r.Status)
	if !validStatus(status) {
		status = "5.0.0"
		if action == "delayed" {
			status = "4.0.0"
		}
	}
	fmt.Fprintf(b, "Status: %s\n", status)
	if d := clean(r.Diagnostic); d != "" {
		// An SMTP reply is an smtp diagnostic (RFC 3464 2.3.6): the
		// reply alone, and the server that gave it the Remote-MTA
		// (2.3.5), also when the agent says more around it ("message
		// expired after D in the queue: host H said: REPLY (in reply
		// to RCPT TO command)"), which the text for people keeps.
		kind := "X-Homepost"
		if remote, reply, ok := smtpReply(d); ok {
			if mta := dnsName(remote); mta != "" {
				fmt.Fprintf(b, "Remote-MTA: dns; %s\n", mta)
			}
			kind, d = "smtp", reply
		} else if isReply(d) {
			kind = "smtp"
		}
		b.WriteString(fold("Diagnostic-Code: "+kind+"; "+d) + "\n")
	}
}

// addressType is the address type of a (cleaned: valid UTF-8) address
// in the delivery-status part: rfc822 for an ASCII one, utf-8 (RFC 6533
// 3, in its utf-8-address form, which message/global-delivery-status
// carries as it is) for one that is not, as Postfix writes them.
func addressType(a string) string {
	if isASCII([]byte(a)) {
		return "rfc822"
	}
	return "utf-8"
}

// The words the agent puts before a smarthost's reply: what happened
// around it (the message expired; the reply refused the login), then
// which host gave it.
var (
	replyAround = []string{"", "authentication failed: "}
	replyHost   = []string{" said: ", " refused to talk to me: "}
)

// smtpReply finds the smarthost's reply in a diagnostic as the agent
// words it: "host H said: REPLY" or "host H refused to talk to me:
// REPLY", alone or after "message expired after D in the queue: " or
// "authentication failed: ". It returns the host and the reply without
// what the agent adds after it ("(in reply to RCPT TO command)", and
// what it says of a refused sender). Nothing else is taken for a reply:
// a local reason (a command's own words) names no remote server.
func smtpReply(d string) (host, reply string, ok bool) {
	rest := d
	if strings.HasPrefix(rest, "message expired after ") {
		_, after, found := strings.Cut(rest, " in the queue: ")
		if !found {
			return "", "", false
		}
		rest = after
	}
	for _, around := range replyAround {
		s, found := strings.CutPrefix(rest, around+"host ")
		if !found {
			continue
		}
		for _, sep := range replyHost {
			h, r, found := strings.Cut(s, sep)
			if !found || strings.ContainsAny(h, " ;") || !isReply(r) {
				continue
			}
			if i := strings.Index(r, " (in reply to "); i >= 0 {
				r = r[:i]
			}
			return h, r, true
		}
	}
	return "", "", false
}

// dnsName is host as the name of a Remote-MTA of type dns, as the
// agent names the smarthost (its url's host, a name or an address), or
// "" when it holds what the field's syntax cannot carry. An address is
// written as the address literal of RFC 5321 (4.1.3), the name of a
// host that has none: "[192.0.2.1]", "[IPv6:2001:db8::1]" (without an
// IPv6 zone, which a literal cannot carry).
func dnsName(host string) string {
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		if ip.Is4() {
			return "[" + ip.String() + "]"
		}
		return "[IPv6:" + ip.WithZone("").String() + "]"
	}
	if host == "" || strings.ContainsAny(host, " ;()<>\"\\[]") {
		return ""
	}
	return host
}

// isReply reports whether d begins as an SMTP reply: three digits, then
// a space or a hyphen.
func isReply(d string) bool {
	return len(d) >= 4 && isDigits(d[:3]) && (d[3] == ' ' || d[3] == '-')
}

func validStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 || !isDigits(p) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// clean makes s one line of printable text: a reason or an address
// coming from a remote server must not inject header fields.
func clean(s string) string {
	var b strings.Builder
	space := false
	for _, c := range s {
		switch {
		case c == '\n' || c == '\r' || c == '\t' || c == ' ':
			space = b.Len() > 0
			continue
		case isControl(c):
			c = '?'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fold breaks a long field before spaces, so that lines stay under 78
// characters where they can and unfolding gives back the same text.
func fold(s string) string {
	if len(s) <= 78 {
		return s
	}
	var b strings.Builder
	line := 0
	for i, w := range strings.Split(s, " ") {
		if i > 0 {
			if line+1+len(w) > 78 {
				b.WriteString("\n ")
				line = 1
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

// utf8Header reports whether a header holds UTF-8 outside encoded
// words (RFC 6532), which makes it message/global rather than
// message/rfc822. Other 8-bit bytes do not: such a header is neither,
// and a reader takes message/global's for UTF-8.
func utf8Header(h []byte) bool { return !isASCII(h) && utf8.Valid(h) }

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// readOriginal reads the original message, dropping a leading mbox
// "From " line. With wantWhole, a message of at most BounceSizeLimit
// bytes comes back whole, as it is; otherwise (or when it is larger)
// only its header does, as readHeader keeps it. Neither reads more than
// it needs.
func readOriginal(r io.Reader, wantWhole bool) (whole []byte, hdr header, err error) {
	if r == nil {
		if wantWhole {
			return []byte{}, header{}, nil
		}
		return nil, header{}, nil
	}
	br := bufio.NewReader(r)
	if p, _ := br.Peek(5); string(p) == "From " {
		for {
			_, err := br.ReadSlice('\n')
			if err != bufio.ErrBufferFull {
				break
			}
		}
	}
	var start []byte
	if wantWhole {
		start, err = io.ReadAll(io.LimitReader(br, BounceSizeLimit+1))
		if err != nil {
			return nil, header{}, err
		}
		if len(start) <= BounceSizeLimit {
			return start, header{}, nil
		}
	}
	hdr, err = readHeader(io.MultiReader(bytes.NewReader(start), br))
	return nil, hdr, err
}

// header is what readHeader keeps of a message's header.
type header struct {
	text []byte // the fields, with LF line endings
	cut  bool   // the header is larger than maxHeader: text is cut
	size int64  // the header's size, with LF line endings
}

// readHeader reads a message's header up to the blank line, with LF
// line endings: the fields that fit in maxHeader, and once one does not,
// only the first of each of keptFields that is not there yet, cut at
// maxKeptField bytes. It holds no more than maxHeader bytes of a field,
// however long.
func readHeader(r io.Reader) (header, error) {
	br := bufio.NewReader(r)
	var h header
	var field []byte // the field being read, at most maxHeader+1 bytes
	var size int64   // its size
	have := map[string]bool{}
	flush := func() {
		if size == 0 {
			return
		}
		h.size += size
		name := fieldName(field)
		switch {
		case !h.cut && size <= int64(maxHeader-len(h.text)):
			h.text = append(h.text, field...)
			if slices.Contains(keptFields, name) {
				have[name] = true
			}
		case slices.Contains(keptFields, name) && !have[name]:
			h.cut = true
			h.text = append(h.text, shorten(field)...)
			have[name] = true
		default:
			h.cut = true
		}
		field, size = field[:0], 0
	}
	for {
		line, n, err := readLine(br, maxHeader+1)
		if err != nil && err != io.EOF {
			return header{}, err
		}
		if n == 0 {
			break // the blank line that ends the header, or the end
		}
		if line[0] != ' ' && line[0] != '\t' {
			flush()
		}
		if room := maxHeader + 1 - len(field); room > 0 {
			field = append(field, line[:min(room, len(line))]...)
			field = append(field, '\n')
		}
		size += n + 1
		if err == io.EOF {
			break
		}
	}
	flush()
	return h, nil
}

// readLine reads a line of br and returns at most limit bytes of it
// without its line ending (the CRs and LF that end it), and its length
// without the line ending. An empty line with a nil error is a blank
// line; with io.EOF, the end.
func readLine(br *bufio.Reader, limit int) (line []byte, n int64, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if err != bufio.ErrBufferFull {
			chunk = bytes.TrimRight(chunk, "\r\n")
		}
		n += int64(len(chunk))
		if room := limit - len(line); room > 0 {
			line = append(line, chunk[:min(room, len(chunk))]...)
		}
		if err != bufio.ErrBufferFull {
			return line, n, err
		}
	}
}

// fieldName is the name of the field that begins f, in lower case, or
// "" when its first line is not a field.
func fieldName(f []byte) string {
	first, _, _ := bytes.Cut(f, []byte("\n"))
	name, _, ok := bytes.Cut(first, []byte(":"))
	if !ok {
		return ""
	}
	return strings.ToLower(string(bytes.TrimSpace(name)))
}

// shorten cuts a field (its lines each ending in LF) to at most
// maxKeptField bytes and its LF, between two characters, without a
// fold or blanks left at its end.
func shorten(f []byte) []byte {
	if len(f) <= maxKeptField+1 {
		return f
	}
	i := maxKeptField
	for i > 0 && !utf8.RuneStart(f[i]) {
		i--
	}
	s := bytes.TrimRight(f[:i], " \t\r\n")
	return append(s[:len(s):len(s)], '\n')
}
func newBoundary() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Sprintf("homepost-%d", time.Now().UnixNano())
	}
	return "homepost-" + hex.EncodeToString(b[:])
}
