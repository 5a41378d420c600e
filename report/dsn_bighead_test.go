package report

import (
	"fmt"
	"strings"
	"testing"
)

// A header larger than the 256 KiB a DSN returns of it is cut, but the
// fields that name the message are kept (From, To, Subject, Date,
// Message-ID: the text for people quotes them, and the Message-ID is
// what matches the bounce to the message), each shortened to one line
// RFC 5322 allows; and the text says that the header was cut, and at
// which size. A long Subject is quoted cut, with an ellipsis.
func TestDSNHugeHeaderKeepsFields(t *testing.T) {
	tail := "Message-ID: <hs-bb14@vm>\nDate: Fri, 04 Dec 2026 22:00:00 +0000\n\nbody\n"
	var filler strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&filler, "X-Filler-%04d: %s\n", i, strings.Repeat("f", 60))
	}
	for _, c := range []struct {
		name, orig string
		subject    string // how the returned header gives it
	}{
		{"huge Subject", "From: root@vm\nTo: nobodyhere\nSubject: " + strings.Repeat("u", 262200) + "\n" + tail,
			"Subject: " + strings.Repeat("u", 998-len("Subject: "))},
		{"many fields", "From: root@vm\nTo: nobodyhere\n" + filler.String() + "Subject: filled\n" + tail, "Subject: filled"},
		{"huge folded To", "From: root@vm\nSubject: folded\nTo: " + strings.Repeat("a@b.example,\n ", 30000) + "c@d.example\n" + tail,
			"Subject: folded"},
	} {
		msg, err := BuildDSN(DSN{Host: "vm", QueueID: "Q8", Sender: "root@vm", Recipients: []Recipient{
			{Final: "nobodyhere@vm", Status: "5.1.1", Diagnostic: "user unknown"},
		}}, strings.NewReader(c.orig))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg) > 256<<10+8192 {
			t.Errorf("%s: DSN is %d bytes", c.name, len(msg))
		}
		_, ret := attachment(t, msg)
		for _, want := range []string{"\nMessage-ID: <hs-bb14@vm>\n", "\nDate: Fri, 04 Dec 2026 22:00:00 +0000\n", "\n" + c.subject + "\n"} {
			if !strings.Contains("\n"+ret, want) {
				t.Errorf("%s: the returned header lacks %.60q", c.name, strings.TrimSpace(want))
			}
		}
		if !strings.HasPrefix(ret, "From: root@vm\n") && !strings.Contains(ret, "\nFrom: root@vm\n") {
			t.Errorf("%s: the returned header lacks From", c.name)
		}
		if !strings.Contains(ret, "To: ") {
			t.Errorf("%s: the returned header lacks To", c.name)
		}
		for _, l := range strings.Split(ret, "\n") {
			if len(l) > 998 {
				t.Errorf("%s: a returned line of %d bytes", c.name, len(l))
				break
			}
		}
		h := humanText(t, msg)
		if !strings.Contains(h, "of Fri, 04 Dec 2026 22:00:00 +0000") || strings.Contains(h, "(no subject)") {
			t.Errorf("%s: the text does not name the message:\n%.600s", c.name, h)
		}
		if !strings.Contains(h, "is larger than the 262144 bytes that are returned of it") ||
			!strings.Contains(h, fmt.Sprintf("Its header (%d bytes)", len(c.orig)-len("\nbody\n"))) {
			t.Errorf("%s: the text does not say the header was cut:\n%.2000s", c.name, h)
		}
		d := parseWithPython(t, msg)
		if len(d.Defects) != 0 {
			t.Errorf("%s: defects %v", c.name, d.Defects)
		}
	}
}

// A header under the cap is returned whole, and the text says nothing
// of a cut; a Subject of 200 KB is quoted in the text cut at 200
// characters, with an ellipsis.
func TestDSNLongSubjectQuotedCut(t *testing.T) {
	orig := "From: root@vm\nTo: nobodyhere\nSubject: " + strings.Repeat("u", 200000) + "\nMessage-ID: <hs-bb14@vm>\n\nbody\n"
	msg, err := BuildDSN(DSN{Host: "vm", Sender: "root@vm", Recipients: []Recipient{
		{Final: "nobodyhere@vm", Status: "5.1.1", Diagnostic: "user unknown"},
	}}, strings.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	_, ret := attachment(t, msg)
	if ret != strings.TrimSuffix(orig, "\nbody\n") {
		t.Errorf("the header is not returned whole (%d bytes)", len(ret))
	}
	h := humanText(t, msg)
	if !strings.Contains(h, `Your message "`+strings.Repeat("u", 200)+`..." to nobodyhere`) || strings.Contains(h, "cut") {
		t.Errorf("text:\n%.1000s", h)
	}
}
