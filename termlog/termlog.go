// Package termlog shows the agent's log to a person at a terminal, as
// "homepost flush" does when its standard error is one: one line per
// message saying what happened to it, instead of the key=value lines
// that the journal and log files keep (and that scripts and tests
// read, so they stay the format wherever standard error is not a
// terminal).
//
// It is a slog.Handler that knows the agent's events by their message:
// "delivery" (one per recipient) and "bounce stored" are gathered into
// the line of their message ID; warnings and errors get a line of their
// own at once; other information ("agent started") is left out. A
// message's line is written when an event of another message or any
// other line comes, and at Close.
package termlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Handler writes the lines. Its zero value is not usable; use New.
type Handler struct {
	s     *state
	attrs []slog.Attr
}

// state is shared by a Handler and those made from it by WithAttrs.
type state struct {
	mu       sync.Mutex
	w        io.Writer
	prefix   string   // "homepost: flush: "
	id       string   // the message of the pending line
	parts    []string // what happened to its recipients
	messages int      // messages reported
	deferred int      // recipients reported deferred
	noRetry  bool     // nothing retries what is deferred (NoRetry)
}

// New writes lines to w, each starting with prefix.
func New(w io.Writer, prefix string) *Handler {
	return &Handler{s: &state{w: w, prefix: prefix}}
}

// NoRetry says that nothing will retry what this delivery defers (no
// agent runs, and deliver_without_agent = false turns the background
// delivery off): a deferred recipient is then "deferred", not
// "deferred, will retry".
func (h *Handler) NoRetry() {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.noRetry = true
}

// Deferred is how many recipients were reported deferred.
func (h *Handler) Deferred() int {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	return h.s.deferred
}

// Enabled: information and above.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

// WithAttrs adds attributes to every event.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &Handler{s: h.s, attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], as...)}
}

// WithGroup is not used by the agent; groups are flattened.
func (h *Handler) WithGroup(string) slog.Handler { return h }

// Handle takes one event.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	a := map[string]string{}
	for _, x := range h.attrs {
		a[x.Key] = x.Value.String()
	}
	r.Attrs(func(x slog.Attr) bool {
		a[x.Key] = x.Value.String()
		return true
	})
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Message == "delivery" && a["id"] != "":
		if a["status"] == "deferred" {
			s.deferred++
		}
		s.add(a["id"], delivery(a, !s.noRetry))
	case r.Message == "bounce stored" && a["id"] != "":
		s.add(a["id"], "a bounce to <"+a["to"]+"> is in your mailbox")
	case r.Level >= slog.LevelWarn:
		s.flush()
		line := r.Message
		if id := a["id"]; id != "" {
			line = id + ": " + line
		}
		if why := a["reason"]; why != "" {
			line += ": " + why
		}
		_, err := fmt.Fprintf(s.w, "%s%s\n", s.prefix, line)
		return err
	}
	return nil
}

// add puts part on the line of message id.
func (s *state) add(id, part string) {
	if id != s.id {
		s.flush()
		s.id = id
	}
	s.parts = append(s.parts, part)
}

// flush writes the pending line.
func (s *state) flush() {
	if s.id == "" {
		return
	}
	fmt.Fprintf(s.w, "%s%s: %s\n", s.prefix, s.id, strings.Join(s.parts, "; "))
	s.id, s.parts = "", nil
	s.messages++
}

// Close writes the last line and returns how many messages were
// reported.
func (h *Handler) Close() int {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.flush()
	return h.s.messages
}

// delivery says what one "delivery" event means, for a person; retry
// says whether something will retry a deferred recipient.
func delivery(a map[string]string, retry bool) string {
	to := a["to"]
	// "root (alice@laptop)" when an alias led elsewhere; root and
	// root@laptop are the same.
	if o := a["orig_to"]; o != "" && !strings.EqualFold(o, to) && !strings.HasPrefix(strings.ToLower(to), strings.ToLower(o)+"@") {
		to = o + " (" + to + ")"
	}
	target := a["target"]
	switch a["status"] {
	case "sent":
		return to + " " + where(target)
	case "deferred":
		if !retry {
			return to + " deferred: " + a["reason"]
		}
		return to + " deferred, will retry: " + a["reason"]
	case "bounced":
		return to + " bounced: " + a["reason"]
	}
	return to + " " + a["status"] + ": " + a["reason"]
}

// where says where a copy went, from its target's spec.
func where(target string) string {
	switch {
	case strings.HasPrefix(target, `\`):
		return "delivered to your mailbox"
	case strings.HasPrefix(target, "|"):
		return "delivered to the command " + target[1:]
	case strings.HasPrefix(target, "/"):
		return "delivered to " + target
	case target != "":
		return "sent to the smarthost"
	}
	return "delivered"
}
