package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// An error joined of several is logged one line per cause, each with
// the record's other attributes; one that wraps a join keeps its
// context on one line.
func TestEachErrorSplitsJoined(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(eachError{slog.NewTextHandler(&b, nil)}).With("agent", 1)
	a, c := errors.New("listen on 127.0.0.1:2525: address already in use"), errors.New("listen on 127.0.0.1:25: permission denied")
	log.Error("smtp listener", "reason", errors.Join(a, errors.Join(c)), "n", 2)
	log.Warn("recycle queue files", "reason", fmt.Errorf("outbox: %w", errors.Join(a, c)))
	log.Info("plain", "reason", a)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	for i, want := range []string{"2525: address already in use\"", "25: permission denied\"", "in use; listen on", "plain"} {
		if !strings.Contains(lines[i], want) || strings.Contains(lines[i], `\n`) || !strings.Contains(lines[i], "agent=1") {
			t.Errorf("line %d: %s", i, lines[i])
		}
	}
	if !strings.Contains(lines[0], "n=2") || !strings.Contains(lines[1], "n=2") {
		t.Errorf("the other attributes are not kept:\n%s", b.String())
	}
}
