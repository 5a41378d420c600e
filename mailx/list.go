package mailx

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Message lists, as POSIX mailx defines them:
//
//	n        message n            n-m      messages n to m
//	.        the current message  ^ $      the first / last message
//	+ -      the next / previous  *        every message
//	:n :o :u :r :d :s   new, old, unread, read, deleted, saved messages
//	/text    messages whose Subject contains text (any case)
//	address  messages whose From contains address (any case)
//
// Items separated by blanks are joined; an empty list is the current
// message.

// listMode says which messages a list may select.
type listMode int

const (
	undeletedOnly listMode = iota // most commands
	deletedOnly                   // undelete
	anyMessage
)

// errNoApplicable is what mailx says when a list selects nothing.
var errNoApplicable = errors.New("No applicable messages")

// selector is the part of a session a list is resolved against.
type selector struct {
	msgs []*Msg
	dot  int // index of the current message, -1 when none
}

func (s selector) eligible(m *Msg, mode listMode) bool {
	switch mode {
	case deletedOnly:
		return m.has(fDeleted)
	case undeletedOnly:
		return !m.has(fDeleted)
	}
	return true
}

// resolve turns a message list into message indexes (0-based), in
// mailbox order, without duplicates.
func (s selector) resolve(arg string, mode listMode) ([]int, error) {
	n := len(s.msgs)
	if n == 0 {
		return nil, errors.New("No messages")
	}
	picked := make(map[int]bool)
	var order []int
	pick := func(i int) {
		if !picked[i] {
			picked[i] = true
			order = append(order, i)
		}
	}
	fields := strings.Fields(arg)
	if len(fields) == 0 {
		if s.dot < 0 || s.dot >= n {
			return nil, errNoApplicable
		}
		if mode == deletedOnly {
			// undelete without a list: the last deleted message
			// at or before the current one, else the first after.
			for i := s.dot; i >= 0; i-- {
				if s.msgs[i].has(fDeleted) {
					return []int{i}, nil
				}
			}
			for i := s.dot; i < n; i++ {
				if s.msgs[i].has(fDeleted) {
					return []int{i}, nil
				}
			}
			return nil, errNoApplicable
		}
		return []int{s.dot}, nil
	}
	for _, f := range fields {
		switch {
		case f == "*":
			for i := 0; i < n; i++ {
				if s.eligible(s.msgs[i], mode) {
					pick(i)
				}
			}
		case f[0] == ':':
			if len(f) != 2 {
				return nil, fmt.Errorf("%s: unknown message type", f)
			}
			for i, m := range s.msgs {
				if s.matchType(m, f[1]) && (f[1] == 'd' || s.eligible(m, mode)) {
					pick(i)
				}
			}
		case f[0] == '/':
			want := strings.ToLower(f[1:])
			for i, m := range s.msgs {
				if s.eligible(m, mode) && strings.Contains(strings.ToLower(m.subject()), want) {
					pick(i)
				}
			}
		case isListNumber(f):
			lo, hi, err := s.rangeOf(f)
			if err != nil {
				return nil, err
			}
			for i := lo; i <= hi; i++ {
				if !s.eligible(s.msgs[i], mode) {
					if lo == hi {
						return nil, fmt.Errorf("%d: Inappropriate message", i+1)
					}
					continue
				}
				pick(i)
			}
		default:
			want := strings.ToLower(f)
			for i, m := range s.msgs {
				if s.eligible(m, mode) && (strings.Contains(strings.ToLower(m.from()), want) || strings.Contains(strings.ToLower(m.sender()), want)) {
					pick(i)
				}
			}
		}
	}
	if len(order) == 0 {
		return nil, errNoApplicable
	}
	slices.Sort(order)
	return order, nil
}

func (s selector) matchType(m *Msg, t byte) bool {
	switch t {
	case 'n':
		return m.has(fNew) && !m.has(fRead)
	case 'o':
		return !m.has(fNew)
	case 'u':
		return m.unread()
	case 'r':
		return !m.unread()
	case 'd':
		return m.has(fDeleted)
	case 's':
		return m.has(fSaved)
	}
	return false
}

// isListNumber reports whether f is a number, a special one (. ^ $ + -)
// or a range of them.
func isListNumber(f string) bool {
	one := func(x string) bool {
		if x == "." || x == "^" || x == "$" || x == "+" || x == "-" {
			return true
		}
		if x == "" {
			return false
		}
		for _, c := range x {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	if one(f) {
		return true
	}
	a, b, ok := strings.Cut(f, "-")
	return ok && one(a) && one(b)
}

// rangeOf resolves "n", "n-m" and the special numbers to indexes.
func (s selector) rangeOf(f string) (int, int, error) {
	if a, b, ok := strings.Cut(f, "-"); ok && a != "" && b != "" {
		lo, err := s.number(a)
		if err != nil {
			return 0, 0, err
		}
		hi, err := s.number(b)
		if err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("%s: bad range", f)
		}
		return lo, hi, nil
	}
	i, err := s.number(f)
	return i, i, err
}

func (s selector) number(x string) (int, error) {
	n := len(s.msgs)
	switch x {
	case ".":
		if s.dot < 0 {
			return 0, errNoApplicable
		}
		return s.dot, nil
	case "^":
		for i, m := range s.msgs {
			if !m.has(fDeleted) {
				return i, nil
			}
		}
		return 0, errNoApplicable
	case "$":
		for i := n - 1; i >= 0; i-- {
			if !s.msgs[i].has(fDeleted) {
				return i, nil
			}
		}
		return 0, errNoApplicable
	case "+":
		for i := s.dot + 1; i < n; i++ {
			if !s.msgs[i].has(fDeleted) {
				return i, nil
			}
		}
		return 0, errors.New("Referencing beyond EOF")
	case "-":
		for i := s.dot - 1; i >= 0; i-- {
			if !s.msgs[i].has(fDeleted) {
				return i, nil
			}
		}
		return 0, errors.New("Referencing before 1")
	}
	v, err := strconv.Atoi(x)
	if err != nil || v < 1 || v > n {
		return 0, fmt.Errorf("%s: Invalid message number", x)
	}
	return v - 1, nil
}
