package report

// Delivery status notifications (RFC 3464): the bounce a sender receives
// when a message could not be delivered, in the shape Postfix gives it,
// so that mail clients and people recognise it: a human-readable part, a
// message/delivery-status part, and the original message's header
// (text/rfc822-headers). The message header is go-message's; the parts
// are written by hand: each field of the delivery-status part is
// checked and folded as RFC 3464 wants, and the original header is
// copied byte for byte, neither of which go-message's writers do.
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
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"homepost/addr"
)

// DSN is what a delivery status notification says about one message.
type DSN struct {
	Host       string    // this host's name: Reporting-MTA and From
	QueueID    string    // the message's queue ID
	Sender     string    // the envelope sender: the DSN goes there
	Arrival    time.Time // when the message was queued
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

// maxHeader bounds the original header copied into the DSN.
const maxHeader = 256 << 10

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
// with the header of original, which is read up to its first blank
// line. It fails when m has no recipient or ShouldBounce(m.Sender) is
// false.
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
	hdr, err := readHeader(original)
	if err != nil {
		return nil, fmt.Errorf("report: dsn: read the original header: %w", err)
	}
	boundary := newBoundary()
	now := time.Now()
	failed := false
	for _, r := range m.Recipients {
		if r.Action != "delayed" {
			failed = true
		}
	}
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
		{"Content-Transfer-Encoding", "8bit"},
	})
	b.WriteString("This is a MIME-encapsulated message.\n\n")

	fmt.Fprintf(&b, "--%s\n", boundary)
	b.WriteString("Content-Description: Notification\nContent-Type: text/plain; charset=utf-8\n\n")
	humanPart(&b, host, failed, m.Recipients)

	fmt.Fprintf(&b, "\n--%s\n", boundary)
	b.WriteString("Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n")
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\n", host)
	if id := clean(m.QueueID); id != "" {
		fmt.Fprintf(&b, "X-Homepost-Queue-ID: %s\n", id)
	}
	if !m.Arrival.IsZero() {
		fmt.Fprintf(&b, "Arrival-Date: %s\n", m.Arrival.Format(time.RFC1123Z))
	}
	for _, r := range m.Recipients {
		b.WriteByte('\n')
		recipientFields(&b, host, r)
	}

	fmt.Fprintf(&b, "\n--%s\n", boundary)
	b.WriteString("Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n")
	if !isASCII(hdr) {
		b.WriteString("Content-Transfer-Encoding: 8bit\n")
	}
	b.WriteByte('\n')
	b.Write(hdr)
	fmt.Fprintf(&b, "\n--%s--\n", boundary)
	return b.Bytes(), nil
}

func humanPart(b *bytes.Buffer, host string, failed bool, rs []Recipient) {
	fmt.Fprintf(b, "This is the mail system at host %s.\n\n", host)
	if failed {
		b.WriteString("I'm sorry to have to inform you that your message could not\n" +
			"be delivered to one or more recipients. It's attached below.\n\n" +
			"For further assistance, please send mail to postmaster.\n\n" +
			"If you do so, please include this problem report. You can\n" +
			"delete your own text from the attached returned message.\n\n")
	} else {
		b.WriteString("Your message could not be delivered for some time.\n" +
			"It will be retried until it is too old.\n\n")
	}
	b.WriteString("                   The mail system\n")
	for _, r := range rs {
		fmt.Fprintf(b, "\n<%s>: %s\n", clean(r.Final), clean(r.Diagnostic))
	}
}

func recipientFields(b *bytes.Buffer, host string, r Recipient) {
	fmt.Fprintf(b, "Final-Recipient: rfc822; %s\n", addr.Qualify(clean(r.Final), host))
	if o := clean(r.Original); o != "" {
		fmt.Fprintf(b, "Original-Recipient: rfc822; %s\n", addr.Qualify(o, host))
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
		kind := "X-Homepost"
		if len(d) >= 4 && isDigits(d[:3]) && (d[3] == ' ' || d[3] == '-') {
			kind = "smtp"
		}
		b.WriteString(fold("Diagnostic-Code: "+kind+"; "+d) + "\n")
	}
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
		case c < 0x20 || c == 0x7f:
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

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// readHeader reads the original message's header up to the blank line,
// with LF line endings, dropping a leading mbox "From " line and
// stopping at maxHeader.
func readHeader(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	br := bufio.NewReader(r)
	var out []byte
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A huge header line: keep what fits, skip the rest of it.
			chunk := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				if len(chunk) < maxHeader {
					chunk = append(chunk, line...)
				}
			}
			line = chunk
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		l := bytes.TrimRight(line, "\r\n")
		if first && bytes.HasPrefix(l, []byte("From ")) {
			first = false
			continue
		}
		first = false
		if len(l) == 0 {
			break
		}
		if len(out)+len(l)+1 > maxHeader {
			break
		}
		out = append(out, l...)
		out = append(out, '\n')
		if err == io.EOF {
			break
		}
	}
	return out, nil
}

func newBoundary() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Sprintf("homepost-%d", time.Now().UnixNano())
	}
	return "homepost-" + hex.EncodeToString(b[:])
}
