package outbox

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func mailqEntry(reason string) Entry {
	return Entry{ID: "661B98495DB423775", Size: 300, Arrival: time.Unix(1796290000, 0), Sender: "me@example.org",
		Rcpts:    []Recipient{{Addr: "r-tmp@test.invalid", Status: Deferred, Attempts: 1, Last: time.Unix(1796290010, 0), Next: time.Unix(1796290070, 0), Reason: reason}},
		Original: []string{"r-tmp@test.invalid"}, Idx: []int{0}}
}

// A reason longer than a line is wrapped at 80 columns, each line
// indented, rather than printed as one line from column 0; a short one
// stays right-aligned as Postfix prints it.
func TestMailqWrapsLongReason(t *testing.T) {
	long := "4.2.0 host 127.0.0.1 said: 421 4.7.0 [192.0.2.1] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. Please visit https://support.example.com/mail/?p=UnsolicitedRateLimitError to review our Bulk Email Senders Guidelines. d2e1a72fcca58-7b02 - gsmtp (in reply to end of DATA command)"
	var b bytes.Buffer
	WritePostfix(&b, []Entry{mailqEntry(long)})
	out := b.String()
	var reason []string
	for _, l := range strings.Split(out, "\n") {
		if len([]rune(l)) > 80 && !strings.Contains(l, "https://") {
			t.Errorf("line of %d columns:\n%s", len([]rune(l)), l)
		}
		if strings.HasPrefix(l, "    ") && !strings.HasPrefix(strings.TrimSpace(l), "r-tmp@") {
			reason = append(reason, strings.TrimSpace(l))
		}
	}
	if got := strings.Join(reason, " "); got != "("+Why(long)+")" {
		t.Errorf("wrapped reason reads %q\nmailq:\n%s", got, out)
	}
	b.Reset()
	WritePostfix(&b, []Entry{mailqEntry("4.4.1 connect to x: refused")})
	if !strings.Contains(b.String(), "\n"+strings.Repeat(" ", 76-len("connect to x: refused"))+"(connect to x: refused)\n") {
		t.Errorf("short reason:\n%s", b.String())
	}
}

// Bidi controls (U+202A-U+202E, U+2066-U+2069) and C1 controls in a
// smarthost's reply would reorder or hide the line on a terminal: they
// are replaced with '?', as C0 control characters are.
func TestMailqReplacesBidiControls(t *testing.T) {
	var b bytes.Buffer
	WritePostfix(&b, []Entry{mailqEntry("4.2.0 host x said: 451 \u202eevil\u2066x\u2069 \u009b31m \x1b[0m")})
	out := b.String()
	for _, bad := range []string{"\u202e", "\u2066", "\u2069", "\u009b", "\x1b"} {
		if strings.Contains(out, bad) {
			t.Errorf("mailq passes %q:\n%q", bad, out)
		}
	}
	if !strings.Contains(out, "451 ?evil?x? ?31m ?[0m") {
		t.Errorf("mailq:\n%s", out)
	}
}

// A held message has no next attempt: nothing happens while it is held,
// so --json leaves next_attempt out.
func TestMailqJSONHeldNoNextAttempt(t *testing.T) {
	e := mailqEntry("4.2.0 later")
	e.Held = true
	var b bytes.Buffer
	if err := WriteJSON(&b, []Entry{e, mailqEntry("4.2.0 later")}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	var held, deferred map[string]any
	json.Unmarshal([]byte(lines[0]), &held)
	json.Unmarshal([]byte(lines[1]), &deferred)
	hr := held["recipients"].([]any)[0].(map[string]any)
	dr := deferred["recipients"].([]any)[0].(map[string]any)
	if _, ok := hr["next_attempt"]; ok || held["queue_name"] != "hold" {
		t.Errorf("held message: %s", lines[0])
	}
	if _, ok := dr["next_attempt"]; !ok {
		t.Errorf("deferred message lost next_attempt: %s", lines[1])
	}
}

// mailq --json keeps a reason exactly, but writes its bidi controls as
// \u escapes, so that the output read on a terminal is not reordered;
// a JSON reader gets the same string.
func TestMailqJSONEscapesBidiControls(t *testing.T) {
	reason := "4.2.0 host x said: 451 \u202eevil\u2066x\u2069 \u200f"
	var b bytes.Buffer
	if err := WriteJSON(&b, []Entry{mailqEntry(reason)}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"\u202e", "\u2066", "\u2069", "\u200f"} {
		if strings.Contains(b.String(), bad) {
			t.Errorf("mailq --json passes %q raw:\n%s", bad, b.String())
		}
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, b.String())
	}
	var want bytes.Buffer
	if err := json.NewEncoder(&want).Encode(map[string]string{"r": Why(reason)}); err != nil {
		t.Fatal(err)
	}
	var w map[string]string
	json.Unmarshal(want.Bytes(), &w)
	if r := got["recipients"].([]any)[0].(map[string]any)["delay_reason"]; r != w["r"] {
		t.Errorf("delay_reason %q, want %q", r, w["r"])
	}
}
