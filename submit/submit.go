package submit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"homepost/addr"
	"homepost/outbox"
	"homepost/settings"
)

// Options are what a front end knows besides the message.
type Options struct {
	// Sender is the envelope sender (-f); "" means the user's own
	// address, "<>" the null sender.
	Sender string
	// FullName is the display name for a generated From (-F); "" uses
	// the account's GECOS name.
	FullName string
	// Recipients are the envelope recipients given as arguments; an
	// element may hold several, separated by commas.
	Recipients []string
	// Extract takes recipients from To, Cc and Bcc as well (-t).
	Extract bool
	// IgnoreDots keeps reading past a line holding a single dot (-i).
	IgnoreDots bool
	// Opts are envelope options kept with the message (ret, envid).
	Opts map[string]string
	// NoWake leaves delivery asleep after queueing: for a front end
	// that queues several messages in one session and calls Wake once
	// at its end.
	NoWake bool
	// Sync replaces the fsyncs of the queue file and of outbox/new
	// (outbox.Draft.CommitWith): the SMTP listener shares them among
	// the sessions that end a message together. nil: its own fsyncs.
	// A Sync that is also an outbox.Sealer gets a sealed queue file,
	// made durable with its name by one sync after the rename.
	Sync outbox.Syncer
	// ReceivedFrom, when not "", puts a Received field above the
	// message naming where it came from ("from NAME (127.0.0.1)": the
	// SMTP listener's client), this host and the queue ID,
	// as Postfix's smtpd does; the message itself is unchanged.
	ReceivedFrom string
	// MailErrors (-oem, -oee) returns a bad recipient address by mail,
	// as sendmail does, rather than refusing the message: the message
	// goes to the user, with an X-Homepost-Error field saying which
	// address was bad, in place of (or beside) the recipients that
	// could not be read. cron asks for it: a MAILTO with a typo made
	// sendmail exit 65, and cron dropped the job's output.
	MailErrors bool
}

// DataError is a message or address the queue cannot accept (exit 65).
type DataError struct{ Msg string }

func (e *DataError) Error() string { return e.Msg }

// UsageError is a call the queue cannot act on (exit 64).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Result describes a queued message.
type Result struct {
	ID         string
	Recipients []string
	Sender     string
	// Returned are the bad recipient addresses MailErrors sent back to
	// the user, each with why.
	Returned []string
}

// readers keeps the readers of finished submissions for the next: the
// SMTP listener submits message after message, and a new buffer for
// each (zeroed, then garbage) made most of the agent's allocation and of
// its collector's work.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readerSize) }}

// readerSize is the size of Submit's reader: the runtime's largest
// small object (32 KB less the 8 bytes it keeps for a header). A larger
// buffer is a "large" allocation, and the first in a process sets up
// the runtime's list of large spans, which costs sendmail three page
// faults of its own. crLines, which looks at the first 64 KB, reads
// through a wider reader of its own in the rare message whose first
// readerSize bytes hold no LF.
const readerSize = 32<<10 - 8

// Submit reads a message from r, completes its header, and queues it
// durably in the outbox. It returns only after the message is safe on
// disk, or with an error and nothing queued. Once queued, it wakes
// delivery (Wake) unless o.NoWake.
func Submit(cfg *settings.Config, o Options, r io.Reader) (*Result, error) {
	pooled := readers.Get().(*bufio.Reader)
	pooled.Reset(r)
	defer func() {
		pooled.Reset(nil)
		readers.Put(pooled)
	}()
	cr, br := crLines(pooled)
	if cr {
		// Classic Mac OS line ends: each CR ends a line.
		br = bufio.NewReaderSize(&crToLF{src: br}, 64<<10)
	}
	hdr, first, eom, err := readHeader(br, !o.IgnoreDots)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	sender := o.Sender
	switch {
	case sender == "<>":
		sender = ""
	case sender == "":
		sender = cfg.User + "@" + cfg.Hostname
	default:
		a, err := addr.Parse(sender)
		if err != nil {
			return nil, &DataError{fmt.Sprintf("bad sender address %q: %v", sender, err)}
		}
		// A bare name (-f root, -f www-data) is qualified with the
		// hostname, as Postfix appends myorigin and the SMTP listener
		// does: a smarthost refuses MAIL FROM:<root>.
		sender = addr.Qualify(a, cfg.Hostname)
	}

	var rcpts []string
	seen := map[string]bool{}
	add := func(a string) {
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			rcpts = append(rcpts, a)
		}
	}
	var returned []string
	// With -oem (o.MailErrors) an address that cannot be read is mailed
	// back to the user and the others in the same argument or field are
	// still recipients, as sendmail delivers to the good addresses of a
	// list; without it the message is refused.
	for _, arg := range o.Recipients {
		list, errs := addr.ParseListEach(arg)
		for _, err := range errs {
			msg := fmt.Sprintf("bad recipient address %q: %v", arg, err)
			if !o.MailErrors {
				return nil, &DataError{msg}
			}
			returned = append(returned, msg)
		}
		for _, a := range list {
			add(a)
		}
	}
	if o.Extract {
		list, bad := extract(hdr)
		if len(bad) > 0 && !o.MailErrors {
			return nil, &DataError{bad[0]}
		}
		returned = append(returned, bad...)
		for _, a := range list {
			add(a)
		}
	}
	if len(returned) > 0 {
		// Returned to the user who ran sendmail, as sendmail mails
		// errors back with -oem.
		add(cfg.User)
	}
	if len(rcpts) == 0 {
		if o.Extract {
			msg := "no recipient addresses found in message header"
			if f := resentField(hdr); f != "" {
				// RFC 5322 3.6.6, as sendmail and Postfix read it.
				msg += " (it has a " + f + " field, so -t takes only Resent-To, Resent-Cc and Resent-Bcc, of which it has none)"
			}
			// A usage error (64), as Postfix's sendmail exits.
			return nil, &UsageError{msg}
		}
		return nil, &UsageError{"recipient addresses must be specified on the command line or via the -t option"}
	}

	env := &outbox.Envelope{Sender: sender, Arrival: now, Opts: o.Opts}
	for _, a := range rcpts {
		env.Rcpts = append(env.Rcpts, outbox.Recipient{Addr: a, Parent: -1})
	}
	create := outbox.Dir(cfg.Outbox).Create
	if _, ok := o.Sync.(outbox.Sealer); ok {
		create = outbox.Dir(cfg.Outbox).CreateSealed
	}
	d, err := create(env, cfg.Hostname)
	if err != nil {
		return nil, err
	}
	var added []byte
	if !hdr.Huge {
		added = complete(cfg, o, hdr, sender, now, d.ID())
		for _, r := range returned {
			added = append(added, "X-Homepost-Error: "...)
			added = append(added, oneLine(r)...)
			added = append(added, '\n')
		}
	}
	if o.ReceivedFrom != "" {
		fmt.Fprintf(d, "Received: %s\n\tby %s (homepost) id %s; %s\n", o.ReceivedFrom, cfg.Hostname, d.ID(), now.Format(time.RFC1123Z))
	}
	if err := writeHeader(d, hdr, added); err != nil {
		d.Abort()
		return nil, err
	}
	switch {
	case hdr.Huge:
		if err := copyHugeHeader(d, br, first, hdr, o); err != nil {
			d.Abort()
			return nil, err
		}
	case !eom:
		if first != nil {
			d.Write(first)
		}
		if err := copyBody(d, br, !o.IgnoreDots); err != nil {
			d.Abort()
			return nil, err
		}
	case first != nil:
		d.Write(first)
	}
	if err := d.CommitWith(o.Sync); err != nil {
		return nil, err
	}
	if !o.NoWake {
		Wake(cfg)
	}
	return &Result{ID: d.ID(), Recipients: rcpts, Sender: sender, Returned: returned}, nil
}

// oneLine makes s fit one header line: control characters become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// readHeader reads the header section. first is the line that ended the
// section when it is not an empty line (the first body line, already
// normalised to LF); eom reports that the message ended within the
// header. A leading mbox "From " line is dropped, as Postfix does.
func readHeader(br *bufio.Reader, dots bool) (h *Header, first []byte, eom bool, err error) {
	h = &Header{}
	size := 0
	for n := 0; ; n++ {
		line, err := readLine(br, MaxHeader-size)
		if err == io.EOF && len(line) == 0 {
			return h, nil, true, nil
		}
		if err != nil && err != io.EOF {
			if errors.Is(err, bufio.ErrBufferFull) {
				// An enormous header: stop parsing it and pass it
				// through as it is, adding nothing.
				h.Huge = true
				return h, line, false, nil
			}
			return nil, nil, false, fmt.Errorf("read message: %w", err)
		}
		if n == 0 && bytes.HasPrefix(line, []byte("From ")) {
			continue
		}
		size += len(line)
		if size > MaxHeader && (isContinuation(line) && len(h.Fields) > 0 || !isContinuation(line) && fieldName(line) != "") {
			// Short lines that add up past the limit make a header
			// as enormous as one long line: passed through from
			// this field (or continuation line) on.
			h.Huge = true
			return h, line, false, nil
		}
		switch {
		case len(line) == 1 && line[0] == '\n':
			h.Ended = true
			return h, nil, false, nil
		case dots && string(line) == ".\n":
			return h, nil, true, nil
		case isContinuation(line) && len(h.Fields) == 0:
			// A message that starts with white space continues no
			// field: as for Postfix, its header is empty and this
			// line begins the body. (Kept as a header line, it
			// would continue the Received field put above it.)
			return h, line, false, nil
		case isContinuation(line):
			f := &h.Fields[len(h.Fields)-1]
			f.Raw = append(f.Raw, line...)
		default:
			name := fieldName(line)
			if name == "" {
				return h, line, false, nil
			}
			h.Fields = append(h.Fields, Field{Raw: line, Name: name})
		}
		if err == io.EOF {
			return h, nil, true, nil
		}
	}
}

// readLine reads one line of at most limit bytes and normalises CRLF to
// LF. It returns bufio.ErrBufferFull with what it read when the line is
// longer than limit.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if err == nil {
			break
		}
		if err == bufio.ErrBufferFull {
			if len(line) > limit {
				return line, bufio.ErrBufferFull
			}
			continue
		}
		return line, err
	}
	if n := len(line); n >= 2 && line[n-2] == '\r' {
		line[n-2] = '\n'
		line = line[:n-1]
	}
	return line, nil
}

// copyHugeHeader streams the rest of a header section too large to hold
// in memory, from first, the start of the line that overflowed it, then
// the body. Fields are copied as they are, except that those dropped
// (Bcc, Resent-Bcc, Return-Path) are still removed; with -t (o.Extract)
// a recipient field that can no longer be read is an error rather than
// a recipient silently missed.
func copyHugeHeader(w io.Writer, br *bufio.Reader, first []byte, h *Header, o Options) error {
	dots := !o.IgnoreDots
	field := ""
	if len(h.Fields) > 0 {
		field = h.Fields[len(h.Fields)-1].Name
	}
	chunk, err := first, error(nil)
	atStart, drop, pendingCR := true, false, false
	for {
		if len(chunk) > 0 {
			complete := chunk[len(chunk)-1] == '\n'
			if pendingCR {
				if chunk[0] != '\n' && !drop {
					if _, werr := w.Write([]byte{'\r'}); werr != nil {
						return werr
					}
				}
				pendingCR = false
			}
			out := chunk
			if complete {
				if n := len(out); n >= 2 && out[n-2] == '\r' {
					out = append(out[:n-2], '\n')
				}
			} else if out[len(out)-1] == '\r' {
				out, pendingCR = out[:len(out)-1], true
			}
			if atStart {
				switch {
				case complete && string(out) == "\n":
					// The end of the header section.
					if _, werr := w.Write(out); werr != nil {
						return werr
					}
					return copyBody(w, br, dots)
				case complete && dots && string(out) == ".\n":
					return nil
				case !isContinuation(out):
					field = fieldName(out)
				}
				if field == "" {
					// Not a field: the body begins with this line.
					if _, werr := w.Write(out); werr != nil {
						return werr
					}
					if err == io.EOF {
						// Finish the line without reading past the end.
						br = bufio.NewReader(strings.NewReader(""))
					}
					return copyLines(w, br, dots, complete, pendingCR)
				}
				drop = dropped(field)
				if o.Extract && isRecipientField(field) {
					return &DataError{fmt.Sprintf("a %s field follows more than %d MiB of header: cannot take recipients from it (-t)", field, MaxHeader>>20)}
				}
			}
			if !drop {
				if _, werr := w.Write(out); werr != nil {
					return werr
				}
			}
			atStart = complete
		}
		switch err {
		case nil, bufio.ErrBufferFull:
		case io.EOF:
			if pendingCR && !drop {
				if _, werr := w.Write([]byte{'\r'}); werr != nil {
					return werr
				}
			}
			return nil
		default:
			return fmt.Errorf("read message: %w", err)
		}
		chunk, err = br.ReadSlice('\n')
	}
}

// isRecipientField reports whether -t takes recipients from the field.
func isRecipientField(name string) bool {
	for _, n := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// copyBody streams the rest of the message, normalising CRLF to LF and,
// when dots is set, stopping at a line holding a single dot.
func copyBody(w io.Writer, br *bufio.Reader, dots bool) error {
	return copyLines(w, br, dots, true, false)
}

// copyLines is copyBody from within a line (atStart false) and after a
// CR held back at the end of the previous read (pendingCR).
func copyLines(w io.Writer, br *bufio.Reader, dots, atStart, pendingCR bool) error {
	for {
		frag, err := br.ReadSlice('\n')
		if len(frag) > 0 {
			complete := frag[len(frag)-1] == '\n'
			if pendingCR {
				if len(frag) > 0 && frag[0] == '\n' {
					// The CR of a CRLF split across reads.
				} else if _, werr := w.Write([]byte{'\r'}); werr != nil {
					return werr
				}
				pendingCR = false
			}
			out := frag
			if complete {
				if n := len(out); n >= 2 && out[n-2] == '\r' {
					out = append(out[:n-2], '\n')
				}
				if dots && atStart && string(out) == ".\n" {
					return nil
				}
			} else if out[len(out)-1] == '\r' {
				out, pendingCR = out[:len(out)-1], true
			}
			if _, werr := w.Write(out); werr != nil {
				return werr
			}
			atStart = complete
		}
		switch err {
		case nil, bufio.ErrBufferFull:
		case io.EOF:
			if pendingCR {
				if _, werr := w.Write([]byte{'\r'}); werr != nil {
					return werr
				}
			}
			return nil
		default:
			return fmt.Errorf("read message: %w", err)
		}
	}
}

// dropped reports whether a header field is removed from the message
// when it is queued, as Postfix's cleanup removes it
// (message_drop_headers; its default also names Content-Length, which
// homepost keeps, as it keeps every byte it has no reason to change):
// Bcc and Resent-Bcc, whose recipients must stay secret, and
// Return-Path, the envelope sender that final delivery writes (RFC 5321
// 4.4): homepost's delivery puts its own on every stored copy, and a
// message that leaves for the smarthost should carry none ("A
// message-originating SMTP system SHOULD NOT send a message that
// already contains a Return-path header field"); kept, a stored copy had
// two, the stale one below homepost's.
func dropped(name string) bool {
	return strings.EqualFold(name, "Bcc") || strings.EqualFold(name, "Resent-Bcc") || strings.EqualFold(name, "Return-Path")
}

// writeHeader writes the header fields except those dropped, then the
// completed fields, then the separating empty line.
func writeHeader(w io.Writer, h *Header, added []byte) error {
	var buf bytes.Buffer
	for _, f := range h.Fields {
		if dropped(f.Name) {
			continue
		}
		buf.Write(f.Raw)
	}
	if len(added) > 0 {
		if b := buf.Bytes(); len(b) > 0 && b[len(b)-1] != '\n' {
			buf.WriteByte('\n')
		}
		buf.Write(added)
	}
	if h.Ended || len(added) > 0 {
		buf.WriteByte('\n')
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// resent reports whether h has one of the resent fields of RFC 5322
// 3.6.6, which make a message a resent one for complete. (A field that
// merely begins with "Resent-" does not, as for Postfix's cleanup, so
// that a message without From does not go without one for it.)
func resent(h *Header) bool {
	for _, f := range h.Fields {
		switch strings.ToLower(f.Name) {
		case "resent-date", "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc", "resent-message-id":
			return true
		}
	}
	return false
}

// GeneratedFrom is the From that submission adds to a message without
// one, sent with options o from the envelope sender sender: the full
// name is o.FullName (-F, NAME), else the account's own when the sender
// is the user's default (no -f), and the null sender is MAILER-DAEMON.
// mail(1) writes the same From itself, so that its record copy has the
// From that was sent.
func GeneratedFrom(cfg *settings.Config, o Options, sender string) string {
	name := o.FullName
	if name == "" && o.Sender == "" {
		name = cfg.FullName
	}
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	return addr.Format(name, sender)
}

// complete returns the header fields to add: From, Date and Message-ID
// where missing. A message that is resent (it has a Resent- field, RFC
// 5322 3.6.6) gets Resent-From, Resent-Date and Resent-Message-ID where
// missing instead, and its own From, Date and Message-ID are left as
// they are, as Postfix's cleanup does: the resent block says who resent
// it and when, which the standard requires, and the original's fields
// still name the original.
func complete(cfg *settings.Config, o Options, h *Header, sender string, now time.Time, id string) []byte {
	prefix := ""
	if resent(h) {
		prefix = "Resent-"
	}
	var b []byte
	if !h.Has(prefix + "From") {
		b = append(b, prefix...)
		b = append(b, "From: "...)
		b = append(b, GeneratedFrom(cfg, o, sender)...)
		b = append(b, '\n')
	}
	if !h.Has(prefix + "Date") {
		b = append(b, prefix...)
		b = append(b, "Date: "...)
		b = now.AppendFormat(b, time.RFC1123Z)
		b = append(b, '\n')
	}
	if !h.Has(prefix + "Message-ID") {
		b = append(b, prefix...)
		b = append(b, "Message-ID: <"...)
		b = now.UTC().AppendFormat(b, "20060102150405")
		b = append(b, '.')
		b = append(b, id...)
		b = append(b, '@')
		b = append(b, cfg.Hostname...)
		b = append(b, ">\n"...)
	}
	return b
}
