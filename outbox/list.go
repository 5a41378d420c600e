package outbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Entry is one queued message as mailq shows it.
type Entry struct {
	ID      string
	Size    int64 // message size, as Postfix's showq reports it
	Arrival time.Time
	Sender  string
	Active  bool // claimed by an agent
	Held    bool
	// HoldAsked: held by a request that the delivery in progress
	// records as it lets the message go (AskHold); Held is set too.
	HoldAsked bool
	Rcpts     []Recipient // recipients still to do
	Original  []string    // their envelope recipients
	Idx       []int       // their index in the envelope
	Err       error       // set when the file cannot be read
}

// List reads every message in new/ and cur/, oldest first. Unreadable
// files are listed with Err set, never skipped silently.
func (d Dir) List() ([]Entry, error) {
	var out []Entry
	// cur/ first: a message being claimed or released is in both for a
	// moment (its name leaves new/ once the claim is durable: Take; cur/
	// once new/ holds it durably: Release), and is listed once, from
	// cur/.
	listed := map[string]bool{}
	asked := d.AskedHolds()
	for _, sub := range []string{"cur", "new"} {
		names, err := d.Names(sub)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, n := range names {
			if listed[ID(n)] {
				continue
			}
			listed[ID(n)] = true
			e := Entry{ID: ID(n), Active: false}
			m, err := Open(d.Path(sub, n))
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // delivered while we looked
				}
				e.Err = err
				out = append(out, e)
				continue
			}
			e.Size, e.Arrival = m.Size, m.Env.Arrival
			e.Sender, e.Held = m.Env.Sender, m.Env.Held
			if asked[e.ID] && !e.Held {
				e.Held, e.HoldAsked = true, true
			}
			for i, r := range m.Env.Rcpts {
				if r.Status.Done() {
					continue
				}
				e.Rcpts = append(e.Rcpts, r)
				e.Original = append(e.Original, m.Env.Original(i))
				e.Idx = append(e.Idx, i)
			}
			// A message in cur/ whose recipients were never tried is
			// being delivered right now.
			e.Active = sub == "cur" && !anyTried(e.Rcpts)
			m.Close()
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return a.Arrival.Compare(b.Arrival) })
	return out, nil
}

func anyTried(rs []Recipient) bool {
	for _, r := range rs {
		if r.Attempts > 0 {
			return true
		}
	}
	return false
}

// MarkSending shows the recipients of entries that a delivery in
// progress carries (by queue ID, their indexes in the envelope) as
// being delivered: the message is active, and they wait for the reason
// given, in place of the one an earlier attempt recorded.
func MarkSending(entries []Entry, rcpts map[string][]int, reason string) {
	for k := range entries {
		e := &entries[k]
		idx, ok := rcpts[e.ID]
		if !ok || e.Err != nil {
			continue
		}
		e.Active = true
		for n, i := range e.Idx {
			if slices.Contains(idx, i) {
				e.Rcpts[n].Reason = reason
			}
		}
	}
}

// WritePostfix prints entries exactly as Postfix's mailq does, and
// returns the first error writing to w: a listing cut short (a full
// disk, a closed pipe) is not a listing a script may trust.
func WritePostfix(w io.Writer, entries []Entry) error {
	bw := bufio.NewWriter(w)
	writePostfix(bw, entries)
	return bw.Flush()
}

// writePostfix writes the listing to w, whose first error Flush
// returns.
func writePostfix(w *bufio.Writer, entries []Entry) {
	if len(entries) == 0 {
		fmt.Fprint(w, "Mail queue is empty\n")
		return
	}
	// The total is the sum of the message sizes shown, as Postfix's
	// postqueue adds them up: the queue file also holds the envelope and
	// each recipient's state, which grow with the number of recipients
	// (a short message to thousands of them would count megabytes).
	var total int64
	for k, e := range entries {
		if k == 0 {
			fmt.Fprintf(w, "%-10s %8s %-20s %s\n", "-Queue ID-", "--Size--", "----Arrival Time----", "-Sender/Recipient-------")
		} else {
			fmt.Fprint(w, "\n")
		}
		total += e.Size
		status := ' '
		switch {
		case e.Held:
			status = '!'
		case e.Active:
			status = '*'
		}
		if e.Err != nil {
			fmt.Fprintf(w, "%-10s%c%8d %20.20s %s\n", e.ID, status, e.Size, "??", "(unreadable: "+printable(e.Err.Error())+")")
			continue
		}
		sender := e.Sender
		if sender == "" {
			sender = "MAILER-DAEMON"
		}
		fmt.Fprintf(w, "%-10s%c%8d %20.20s %s\n", e.ID, status, e.Size, asctime(e.Arrival), printable(sender))
		last := ""
		for _, r := range e.Rcpts {
			if r.Reason != "" && r.Reason != last {
				last = r.Reason
				reason := printable(Why(r.Reason))
				if r.Status == Bouncing {
					reason = "bounced: " + reason
				}
				writeReason(w, reason)
			}
			fmt.Fprintf(w, "%-10s %8s %-20s %s\n", "", "", "", printable(r.Addr))
		}
	}
	plural := "s"
	if len(entries) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "\n-- %d Kbytes in %d Request%s.\n", total/1024, len(entries), plural)
}

// Why returns a recorded result without its leading enhanced status code
// ("4.4.0 no smarthost" → "no smarthost"): mailq shows the text, as
// Postfix does; the code is kept for the DSN.
func Why(reason string) string {
	code, rest, ok := strings.Cut(reason, " ")
	if !ok || len(code) < 5 || (code[0] != '2' && code[0] != '4' && code[0] != '5') || code[1] != '.' {
		return reason
	}
	for _, c := range code[2:] {
		if c != '.' && (c < '0' || c > '9') {
			return reason
		}
	}
	return rest
}

// asctime formats like C's asctime(localtime(t)), without the newline.
func asctime(t time.Time) string { return t.Local().Format("Mon Jan _2 15:04:05 2006") }

// printable replaces control characters with '?', as Postfix does, and
// so what else would act on the terminal rather than show: C1 controls,
// and the bidi controls (U+202A to U+202E, U+2066 to U+2069, the marks)
// with which a smarthost's reply could reorder the line displayed.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return '?'
		}
		return r
	}, s)
}

// writeReason prints a reason in parentheses. One that fits is aligned
// to the right of a 78-column line, as Postfix prints it; a longer one
// (a smarthost's multi-line reply, joined) is wrapped at spaces into
// lines of at most 80 columns, each indented by reasonIndent, rather
// than printed as one line from column 0. A word too long for a line (a
// path, a URL) stays whole, on a line of its own, to be copied as it is.
func writeReason(w io.Writer, reason string) {
	text := "(" + reason + ")"
	n := utf8.RuneCountInString(text)
	if n <= 78 {
		fmt.Fprintf(w, "%*s%s\n", 78-n, "", text)
		return
	}
	const width = 80 - len(reasonIndent)
	var line []rune
	flush := func() {
		fmt.Fprintf(w, "%s%s\n", reasonIndent, string(line))
		line = line[:0]
	}
	for _, word := range strings.Fields(text) {
		wr := []rune(word)
		if len(line) > 0 && len(line)+1+len(wr) > width {
			flush()
		}
		if len(line) > 0 {
			line = append(line, ' ')
		}
		line = append(line, wr...)
	}
	if len(line) > 0 {
		flush()
	}
}

// bidiEscaper writes JSON text with each bidi control (a smarthost's
// reply can carry U+202E) as a \u escape: a JSON reader gets the same
// string, and the output read on a terminal is not shown reordered.
// The controls occur only inside strings, where an escape is valid.
type bidiEscaper struct{ w io.Writer }

func (b bidiEscaper) Write(p []byte) (int, error) {
	isBidi := func(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) }
	if !bytes.ContainsFunc(p, isBidi) {
		return b.w.Write(p)
	}
	var out []byte
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		if isBidi(r) {
			out = fmt.Appendf(out, "\\u%04x", r)
		} else {
			out = append(out, p[i:i+n]...)
		}
		i += n
	}
	if _, err := b.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// reasonIndent begins each line of a wrapped reason.
const reasonIndent = "    "

// WriteJSON prints one JSON object per line per message, in the shape of
// Postfix's postqueue -j.
func WriteJSON(w io.Writer, entries []Entry) error {
	enc := json.NewEncoder(bidiEscaper{w})
	for _, e := range entries {
		q := "deferred"
		switch {
		case e.Held:
			q = "hold"
		case e.Active:
			q = "active"
		case len(e.Rcpts) > 0 && !anyTried(e.Rcpts):
			q = "incoming"
		}
		type rcpt struct {
			Address     string `json:"address"`
			OrigAddress string `json:"orig_address,omitempty"`
			DelayReason string `json:"delay_reason,omitempty"`
			Attempts    int    `json:"attempts"`
			NextAttempt int64  `json:"next_attempt,omitempty"`
			LastAttempt int64  `json:"last_attempt,omitempty"`
		}
		obj := struct {
			QueueName   string `json:"queue_name"`
			QueueID     string `json:"queue_id"`
			ArrivalTime int64  `json:"arrival_time"`
			MessageSize int64  `json:"message_size"`
			Sender      string `json:"sender"`
			Recipients  []rcpt `json:"recipients"`
			Error       string `json:"error,omitempty"`
		}{QueueName: q, QueueID: e.ID, ArrivalTime: e.Arrival.Unix(), MessageSize: e.Size, Sender: e.Sender, Recipients: []rcpt{}}
		if e.Err != nil {
			obj.Error = e.Err.Error()
		}
		for i, r := range e.Rcpts {
			rc := rcpt{Address: r.Addr, DelayReason: Why(r.Reason), Attempts: r.Attempts}
			if r.Status == Bouncing {
				rc.DelayReason = "bounced: " + rc.DelayReason
			}
			if e.Original[i] != r.Addr {
				rc.OrigAddress = e.Original[i]
			}
			// Nothing happens to a held message: it has no next attempt.
			if !r.Next.IsZero() && !e.Held {
				rc.NextAttempt = r.Next.Unix()
			}
			if !r.Last.IsZero() {
				rc.LastAttempt = r.Last.Unix()
			}
			obj.Recipients = append(obj.Recipients, rc)
		}
		if err := enc.Encode(obj); err != nil {
			return err
		}
	}
	return nil
}
