package submit

import (
	"strings"
	"testing"
)

// A Return-Path field that comes with a message is removed, as Postfix's
// cleanup removes it (message_drop_headers): the field is the envelope
// sender written at final delivery (RFC 5321 4.4), which homepost's
// delivery writes itself, and a message that leaves for the smarthost
// should carry none. Kept, a stored copy had two, homepost's on top and
// a stale one below. Every other byte stays: the fields around it, a
// folded one's continuation lines go with it, and a Return-Path line in
// the body is no field.
func TestReturnPathRemoved(t *testing.T) {
	msg := "Return-Path: <xx@xx.dk>\nReceived: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\n" +
		"return-path:\n <other@example.org>\nFrom: a@b\nDate: d\nMessage-ID: <m>\nSubject: s\n\n" +
		"Return-Path: <in-body@example.org>\nbody\n"
	want := "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\nFrom: a@b\nDate: d\nMessage-ID: <m>\nSubject: s\n\n" +
		"Return-Path: <in-body@example.org>\nbody\n"
	body, _ := submitted(t, Options{Recipients: []string{"bob"}, IgnoreDots: true}, msg)
	if body != want {
		t.Errorf("got\n%q\nwant\n%q", body, want)
	}
}

// The same in a header section larger than MaxHeader, which is passed
// through as it comes.
func TestHugeHeaderReturnPathRemoved(t *testing.T) {
	big := "X-Big: " + strings.Repeat("a", MaxHeader+10) + "\n"
	msg := "Subject: x\n" + big + "Return-Path: <stale@example.org>\nX-After: kept\n\nReturn-Path: <in-body@example.org>\n"
	body, _ := submitted(t, Options{Recipients: []string{"bob"}, IgnoreDots: true}, msg)
	want := "Subject: x\n" + big + "X-After: kept\n\nReturn-Path: <in-body@example.org>\n"
	if body != want {
		t.Errorf("got %d bytes, want %d; around the end:\n%q", len(body), len(want), body[max(0, len(body)-120):])
	}
}
