// Package outbox is homepost's queue: a real Maildir whose message files
// carry their own envelope and delivery journal.
//
// It owns the queue file and every operation on it: writing one (Create,
// through package submit), claiming it (Claim), its journal (Append),
// listing it for mailq (List), holding, releasing and deleting it for
// homepost queue (Hold, Release, Delete, under the same lock as a
// delivery: OpenLocked), and removing it. The agent decides when and
// the couriers deliver; neither reads or writes the format themselves.
// It links no delivery code, so the small sendmail program can queue
// with it.
//
// # Failure model
//
// A message is durable once its file is fsynced, renamed into new/ and
// new/ is fsynced; until then it lives in tmp/ and is not sent. (A
// sealed file, the SMTP listener's, is renamed first and made durable
// with its name by one sync; one that a power loss tore fails its seal
// and is set aside: see seal.go.) The agent claims a message by linking
// it from new/ into cur/ (a link is atomic, so two agents or a flush
// never deliver the same copy), makes its claims durable with one sync
// of cur/ before any copy of them takes effect, and then drops the names
// from new/ (Take, Drop); a message found in cur/ already is never
// claimed again as new, and its name in new/ is dropped only under its
// lock (DropClaimed). A release from hold is the claim the other way
// round: a link into new/, new/ fsynced, then the unlink from cur/, under
// the lock (Release). Every delivery
// result is appended to the file's journal and fsynced before the next
// step, and so is the mark of an mbox append before its first byte. The
// file leaves the queue once every recipient is sent or bounced: retired
// out of cur/ into tmp/, cur/ fsynced, then kept as a spare that the next
// message is written over (see spare.go). A crash or a power loss at any
// instant therefore leaves a file that says what is still to do.
//
// # File format
//
// A queue file is an envelope, the message, then a journal:
//
//	HOMEPOST 1
//	size 00000000000000001234      message length in bytes, 20 digits
//	seal 0123456789abcdef          optional: FNV-1a of ID, envelope, message
//	time 1732651234                arrival, Unix seconds
//	from sender@example.org        envelope sender; "from" alone is <>
//	opt KEY VALUE                  optional: ret, envid, fullname
//	rcpt bob@example.org           one line per recipient, in order
//	                               an empty line ends the envelope
//	<message: exactly size bytes, LF line endings>
//	s 0 sent 1 1732651240 0 250%202.0.0%20OK
//	x 1 |procmail me me@host       recipient 1 expanded into targets
//	h 1                            held (h 0: released)
//	m 2 /home/me/mbox 4096 861 AB12... 1732651240
//	                               recipient 2's copy is being appended to
//	                               an mbox: where, how long, its SHA-256
//
// Fields are separated by one space; each is percent-encoded (bytes at or
// below space, '%' and DEL become %XX), so addresses with spaces and
// reasons with newlines survive. Journal records:
//
//	s IDX STATUS ATTEMPTS LAST NEXT REASON   state of recipient IDX
//	x IDX TARGET VIA [TARGET VIA]...         expansion of recipient IDX
//	h 0|1                                    hold flag
//	m IDX PATH OFF LEN SHA256 TIME           IDX's copy goes into mbox PATH
//	m IDX -                                  no copy of IDX is being appended
//
// An m record is written before the first byte of a copy is appended to
// an mbox, so that recovery reads the mbox at OFF and knows whether the
// copy is there, whole, or cut off (see package maildir, Mark). IDX -1 is
// the delivery status notification of the recipients bouncing in this
// attempt. A state record clears its recipient's mark (and a bounce the
// DSN's): the attempt it marked is over.
//
// An expansion appends children to the recipient list in order, so their
// indexes follow the envelope's recipients. A child's TARGET is in
// aliases(5) syntax (address, /file, /dir/, |command, \user) and VIA is the
// address whose expansion produced it (its Delivered-To). A recipient is
// resolved again at a retry while children of it are still to deliver
// (package agent, reexpand.go), with the records a first version of the
// format already reads: a later x record of the same IDX appends the
// targets that no child has, and a child whose target the new expansion
// lacks gets the state expanded (dropped: its copy goes where the
// recipient's expansion says now); a state record deferred brings a
// dropped child back when its target is named again. The journal is
// append-only; a record is valid only when its line is complete, so a torn
// write at a crash is cut off before the next append.
package outbox

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Status is a recipient's delivery state.
type Status uint8

const (
	Pending  Status = iota // not tried yet
	Sent                   // delivered
	Deferred               // temporary failure: retry at Next
	Bounced                // permanent failure: a DSN was produced
	Expanded               // forwarded: its children carry on
	// Bouncing is a permanent failure whose DSN is not stored yet: the
	// verdict is kept (the recipient is never tried again), the DSN is
	// retried at Next. Reason holds the failure, then why the DSN
	// could not be stored.
	Bouncing
)

var statusNames = [...]string{"pending", "sent", "deferred", "bounced", "expanded", "bouncing"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status" + strconv.Itoa(int(s))
}

// Done reports whether nothing more will be attempted for this status.
func (s Status) Done() bool { return s == Sent || s == Bounced || s == Expanded }

func parseStatus(s string) (Status, bool) {
	for i, n := range statusNames {
		if n == s {
			return Status(i), true
		}
	}
	return 0, false
}

// Recipient is one envelope recipient or one target expanded from it.
type Recipient struct {
	Addr   string // the recipient address; for a child, the target
	Via    string // for a child: the address it was expanded from
	Parent int    // index of the parent, -1 for an envelope recipient

	Status   Status
	Attempts int
	Last     time.Time // last attempt
	Next     time.Time // next attempt, for Deferred
	Reason   string    // last result's text

	// Mark is where an attempt whose result was not recorded began to
	// append this recipient's copy to an mbox.
	Mark *Mark
}

// Mark records an append to an mbox before it begins: the mbox, the
// offset where the copy starts, its length and SHA-256, and the time in
// its From line.
type Mark struct {
	Path string
	Off  int64
	Len  int64
	Sum  [32]byte
	Time time.Time
}

// Envelope is the sender, recipients and state of a queued message.
type Envelope struct {
	Sender  string // "" is the null sender <>
	Arrival time.Time
	Opts    map[string]string // ret, envid, fullname...
	Rcpts   []Recipient
	Held    bool
	// DSNMark is the Mark of a delivery status notification being
	// appended to an mbox store.
	DSNMark *Mark
}

// DSNIdx is the index that a Mark record uses for the delivery status
// notification of an attempt.
const DSNIdx = -1

// Original returns the envelope recipient that recipient i descends from.
func (e *Envelope) Original(i int) string {
	for n := 0; e.Rcpts[i].Parent >= 0 && n < len(e.Rcpts); n++ {
		i = e.Rcpts[i].Parent
	}
	return e.Rcpts[i].Addr
}

// Done reports whether every recipient is sent, bounced or expanded.
func (e *Envelope) Done() bool {
	for _, r := range e.Rcpts {
		if !r.Status.Done() {
			return false
		}
	}
	return true
}

// NextAttempt is the earliest time a recipient is due, or the zero time
// when none is waiting.
func (e *Envelope) NextAttempt() time.Time {
	var t time.Time
	for _, r := range e.Rcpts {
		if r.Status.Done() {
			continue
		}
		n := r.Next
		if r.Status == Pending {
			n = e.Arrival
		}
		if t.IsZero() || n.Before(t) {
			t = n
		}
	}
	return t
}

const magic = "HOMEPOST 1\n"
const sizeDigits = 20

// Record is one journal entry.
type Record struct {
	Kind byte // 's' state, 'x' expansion, 'h' hold, 'm' mbox mark

	Idx      int
	Status   Status
	Attempts int
	Last     time.Time
	Next     time.Time
	Reason   string

	Targets []Target // for 'x'
	Hold    bool     // for 'h'
	Mark    *Mark    // for 'm'; nil clears
}

// MarkRecord records that recipient idx's copy (DSNIdx: the DSN) is
// about to be appended to an mbox as mk says; a nil mk clears the mark.
func MarkRecord(idx int, mk *Mark) Record { return Record{Kind: 'm', Idx: idx, Mark: mk} }

// Target is one result of expanding a recipient.
type Target struct {
	Addr string // aliases(5) syntax
	Via  string // Delivered-To for this target
}

// StateRecord makes a state record for recipient idx.
func StateRecord(idx int, st Status, attempts int, last, next time.Time, reason string) Record {
	return Record{Kind: 's', Idx: idx, Status: st, Attempts: attempts, Last: last, Next: next, Reason: reason}
}

// Size is the number of journal bytes that recs take: what appending
// them needs room for (Message.Reserve).
func Size(recs ...Record) int64 {
	var n int64
	var b []byte
	for _, r := range recs {
		b = r.append(b[:0])
		n += int64(len(b))
	}
	return n
}

func (r Record) append(b []byte) []byte {
	switch r.Kind {
	case 's':
		b = append(b, "s "...)
		b = strconv.AppendInt(b, int64(r.Idx), 10)
		b = append(b, ' ')
		b = append(b, r.Status.String()...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(r.Attempts), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, unixTime(r.Last), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, unixTime(r.Next), 10)
		b = append(b, ' ')
		b = appendEscaped(b, r.Reason)
	case 'x':
		b = append(b, "x "...)
		b = strconv.AppendInt(b, int64(r.Idx), 10)
		for _, t := range r.Targets {
			b = append(b, ' ')
			b = appendEscaped(b, t.Addr)
			b = append(b, ' ')
			b = appendEscaped(b, t.Via)
		}
	case 'h':
		if r.Hold {
			b = append(b, "h 1"...)
		} else {
			b = append(b, "h 0"...)
		}
	case 'm':
		b = append(b, "m "...)
		b = strconv.AppendInt(b, int64(r.Idx), 10)
		if r.Mark == nil {
			b = append(b, " -"...)
			break
		}
		b = append(b, ' ')
		b = appendEscaped(b, r.Mark.Path)
		b = append(b, ' ')
		b = strconv.AppendInt(b, r.Mark.Off, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, r.Mark.Len, 10)
		b = append(b, ' ')
		b = hex.AppendEncode(b, r.Mark.Sum[:])
		b = append(b, ' ')
		b = strconv.AppendInt(b, r.Mark.Time.Unix(), 10)
	}
	return append(b, '\n')
}

func unixTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0)
}

// apply folds a journal record into the envelope.
func (e *Envelope) apply(r Record) error {
	switch r.Kind {
	case 's':
		if r.Idx < 0 || r.Idx >= len(e.Rcpts) {
			return fmt.Errorf("state of unknown recipient %d", r.Idx)
		}
		rc := &e.Rcpts[r.Idx]
		rc.Status, rc.Attempts, rc.Last, rc.Next, rc.Reason = r.Status, r.Attempts, r.Last, r.Next, r.Reason
		rc.Mark = nil
		if r.Status == Bounced {
			e.DSNMark = nil
		}
	case 'x':
		if r.Idx < 0 || r.Idx >= len(e.Rcpts) {
			return fmt.Errorf("expansion of unknown recipient %d", r.Idx)
		}
		if len(e.Rcpts)+len(r.Targets) > maxRcpts {
			return fmt.Errorf("too many recipients")
		}
		e.Rcpts[r.Idx].Status = Expanded
		for _, t := range r.Targets {
			e.Rcpts = append(e.Rcpts, Recipient{Addr: t.Addr, Via: t.Via, Parent: r.Idx})
		}
	case 'h':
		e.Held = r.Hold
	case 'm':
		switch {
		case r.Idx == DSNIdx:
			e.DSNMark = r.Mark
		case r.Idx < 0 || r.Idx >= len(e.Rcpts):
			return fmt.Errorf("mark of unknown recipient %d", r.Idx)
		default:
			e.Rcpts[r.Idx].Mark = r.Mark
		}
	}
	return nil
}

// maxRcpts bounds the recipient list so a corrupt file cannot exhaust memory.
const maxRcpts = 100000

func parseRecord(line string) (Record, error) {
	f := strings.Split(line, " ")
	var r Record
	if len(f[0]) != 1 {
		return r, fmt.Errorf("unknown record %q", f[0])
	}
	r.Kind = f[0][0]
	switch r.Kind {
	case 's':
		if len(f) != 7 {
			return r, fmt.Errorf("state record has %d fields, want 7", len(f))
		}
		var err error
		var ok bool
		if r.Idx, err = strconv.Atoi(f[1]); err != nil {
			return r, fmt.Errorf("bad index %q", f[1])
		}
		if r.Status, ok = parseStatus(f[2]); !ok {
			return r, fmt.Errorf("bad status %q", f[2])
		}
		if r.Attempts, err = strconv.Atoi(f[3]); err != nil {
			return r, fmt.Errorf("bad attempts %q", f[3])
		}
		last, err1 := strconv.ParseInt(f[4], 10, 64)
		next, err2 := strconv.ParseInt(f[5], 10, 64)
		if err1 != nil || err2 != nil {
			return r, fmt.Errorf("bad time")
		}
		r.Last, r.Next = fromUnix(last), fromUnix(next)
		if r.Reason, err = unescape(f[6]); err != nil {
			return r, err
		}
	case 'x':
		if len(f) < 4 || len(f)%2 != 0 {
			return r, fmt.Errorf("expansion record has %d fields", len(f))
		}
		var err error
		if r.Idx, err = strconv.Atoi(f[1]); err != nil {
			return r, fmt.Errorf("bad index %q", f[1])
		}
		for i := 2; i < len(f); i += 2 {
			a, err1 := unescape(f[i])
			v, err2 := unescape(f[i+1])
			if err := errors.Join(err1, err2); err != nil {
				return r, err
			}
			if a == "" {
				return r, fmt.Errorf("empty target")
			}
			r.Targets = append(r.Targets, Target{Addr: a, Via: v})
		}
	case 'h':
		if len(f) != 2 || (f[1] != "0" && f[1] != "1") {
			return r, fmt.Errorf("bad hold record")
		}
		r.Hold = f[1] == "1"
	case 'm':
		var err error
		if len(f) < 3 {
			return r, fmt.Errorf("mark record has %d fields", len(f))
		}
		if r.Idx, err = strconv.Atoi(f[1]); err != nil || r.Idx < DSNIdx {
			return r, fmt.Errorf("bad index %q", f[1])
		}
		if len(f) == 3 && f[2] == "-" {
			break
		}
		if len(f) != 7 {
			return r, fmt.Errorf("mark record has %d fields, want 7", len(f))
		}
		mk := &Mark{}
		if mk.Path, err = unescape(f[2]); err != nil || mk.Path == "" {
			return r, fmt.Errorf("bad mbox path %q", f[2])
		}
		off, err1 := strconv.ParseInt(f[3], 10, 64)
		n, err2 := strconv.ParseInt(f[4], 10, 64)
		sec, err3 := strconv.ParseInt(f[6], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil || off < 0 || n <= 0 {
			return r, fmt.Errorf("bad mark %q", line)
		}
		if len(f[5]) != 2*len(mk.Sum) {
			return r, fmt.Errorf("bad checksum %q", f[5])
		}
		if _, err := hex.Decode(mk.Sum[:], []byte(f[5])); err != nil {
			return r, fmt.Errorf("bad checksum %q", f[5])
		}
		mk.Off, mk.Len, mk.Time = off, n, time.Unix(sec, 0)
		r.Mark = mk
	default:
		return r, fmt.Errorf("unknown record %q", f[0])
	}
	return r, nil
}

// appendEnvelope writes the envelope header with a zero size field and,
// for a sealed file, a zero seal; the offsets returned are where the
// size digits and the seal digits start (0: no seal).
func appendEnvelope(b []byte, e *Envelope, sealed bool) ([]byte, int, int) {
	b = append(b, magic...)
	b = append(b, "size "...)
	off := len(b)
	b = append(b, strings.Repeat("0", sizeDigits)...)
	sealOff := 0
	if sealed {
		b = append(b, "\nseal "...)
		sealOff = len(b)
		b = append(b, strings.Repeat("0", sealDigits)...)
	}
	b = append(b, "\ntime "...)
	b = strconv.AppendInt(b, e.Arrival.Unix(), 10)
	b = append(b, "\nfrom"...)
	if e.Sender != "" {
		b = append(b, ' ')
		b = appendEscaped(b, e.Sender)
	}
	b = append(b, '\n')
	for _, k := range sortedKeys(e.Opts) {
		b = append(b, "opt "...)
		b = appendEscaped(b, k)
		b = append(b, ' ')
		b = appendEscaped(b, e.Opts[k])
		b = append(b, '\n')
	}
	for _, r := range e.Rcpts {
		b = append(b, "rcpt "...)
		b = appendEscaped(b, r.Addr)
		b = append(b, '\n')
	}
	return append(b, '\n'), off, sealOff
}

// header is what the envelope says of the file's layout.
type header struct {
	len     int64 // bytes of the envelope
	size    int64 // bytes of the message
	sizeOff int64 // where the size digits start
	sealOff int64 // where the seal digits start; 0: not sealed
	seal    uint64
}

// Header limits: an envelope larger than this is corrupt.
const maxEnvelope = 16 << 20

// readEnvelope parses the envelope header from r. It returns the envelope
// and the file's layout.
func readEnvelope(r *bufio.Reader) (*Envelope, *header, error) {
	var n int64
	line := func() (string, error) {
		s, err := r.ReadString('\n')
		n += int64(len(s))
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		if n > maxEnvelope {
			return "", errors.New("envelope too large")
		}
		return s[:len(s)-1], nil
	}
	first, err := line()
	if err != nil {
		return nil, nil, err
	}
	if first+"\n" != magic {
		return nil, nil, errors.New("not a homepost queue file")
	}
	e := &Envelope{}
	h := &header{size: -1}
	haveTime, haveFrom := false, false
	for {
		l, err := line()
		if err != nil {
			return nil, nil, err
		}
		if l == "" {
			break
		}
		key, val, _ := strings.Cut(l, " ")
		switch key {
		case "size":
			if len(val) != sizeDigits {
				return nil, nil, fmt.Errorf("bad size %q", val)
			}
			h.size, err = strconv.ParseInt(val, 10, 64)
			if err != nil || h.size < 0 {
				return nil, nil, fmt.Errorf("bad size %q", val)
			}
			h.sizeOff = n - int64(len(val)) - 1
		case "seal":
			if h.seal, err = parseSeal(val); err != nil {
				return nil, nil, err
			}
			h.sealOff = n - int64(len(val)) - 1
		case "time":
			t, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("bad time %q", val)
			}
			e.Arrival, haveTime = time.Unix(t, 0), true
		case "from":
			if e.Sender, err = unescape(val); err != nil {
				return nil, nil, err
			}
			haveFrom = true
		case "opt":
			k, v, _ := strings.Cut(val, " ")
			k, err1 := unescape(k)
			v, err2 := unescape(v)
			if err := errors.Join(err1, err2); err != nil {
				return nil, nil, err
			}
			if e.Opts == nil {
				e.Opts = map[string]string{}
			}
			e.Opts[k] = v
		case "rcpt":
			a, err := unescape(val)
			if err != nil || a == "" {
				return nil, nil, fmt.Errorf("bad recipient %q", val)
			}
			if len(e.Rcpts) >= maxRcpts {
				return nil, nil, errors.New("too many recipients")
			}
			e.Rcpts = append(e.Rcpts, Recipient{Addr: a, Parent: -1})
		default:
			return nil, nil, fmt.Errorf("unknown envelope line %q", key)
		}
	}
	if h.size < 0 || !haveTime || !haveFrom {
		return nil, nil, errors.New("incomplete envelope")
	}
	if len(e.Rcpts) == 0 {
		return nil, nil, errors.New("no recipients")
	}
	h.len = n
	return e, h, nil
}

// readJournal applies the journal in r to e and returns the length of the
// valid prefix: everything after it is a torn or corrupt tail.
func readJournal(r *bufio.Reader, e *Envelope) (valid int64, err error) {
	for {
		l, rerr := r.ReadString('\n')
		if rerr != nil {
			// An incomplete last line is a write torn by a crash.
			return valid, nil
		}
		rec, perr := parseRecord(l[:len(l)-1])
		if perr == nil {
			perr = e.apply(rec)
		}
		if perr != nil {
			return valid, fmt.Errorf("journal record at +%d: %w", valid, perr)
		}
		valid += int64(len(l))
	}
}

func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '%' || c == 0x7f {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return b
}

func unescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
