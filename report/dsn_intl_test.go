package report

import (
	"strings"
	"testing"
)

// partHeaders returns the header of each of the DSN's three parts.
func partHeaders(t *testing.T, msg []byte) (human, status, returned string) {
	t.Helper()
	s := string(msg)
	var hs []string
	for _, p := range strings.Split(s, "\n--homepost-")[1:] {
		_, rest, _ := strings.Cut(p, "\n")
		h, _, _ := strings.Cut(rest, "\n\n")
		hs = append(hs, h)
	}
	if len(hs) != 4 {
		t.Fatalf("want 3 parts and a closing boundary, got %d pieces:\n%s", len(hs), s)
	}
	return hs[0], hs[1], hs[2]
}

// A delivery-status part that holds UTF-8 is message/global-delivery-status
// (RFC 6533), 8bit, and an address that is not ASCII has the address
// type utf-8 (RFC 6533 3), as Postfix writes them: an unknown local name
// (sendmail zoë) and a UTF-8 recipient the smarthost refused. An ASCII
// recipient beside them stays rfc822.
func TestDSNGlobalDeliveryStatus(t *testing.T) {
	msg, err := BuildDSN(DSN{Host: "vm", QueueID: "Q1", Sender: "root@vm", Recipients: []Recipient{
		{Final: "zoë@vm", Original: "zoë@vm", Action: "failed", Status: "5.1.1", Diagnostic: "user unknown"},
		{Final: "ü-refuse@test.invalid", Action: "failed", Status: "5.1.1",
			Diagnostic: "host 127.0.0.1 said: 550 5.1.1 <ü-refuse@test.invalid>: refused (in reply to RCPT TO command)"},
		{Final: "plain@test.invalid", Action: "failed", Status: "5.1.1", Diagnostic: "host 127.0.0.1 said: 550 5.1.1 no"},
	}}, strings.NewReader("From: root@vm\nTo: zoë, ü-refuse@test.invalid\nSubject: hi\n\nx\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, status, _ := partHeaders(t, msg)
	if status != "Content-Description: Delivery report\nContent-Type: message/global-delivery-status\nContent-Transfer-Encoding: 8bit" {
		t.Errorf("delivery-status part:\n%s", status)
	}
	for _, want := range []string{
		"\nFinal-Recipient: utf-8; zoë@vm\n",
		"\nFinal-Recipient: utf-8; ü-refuse@test.invalid\n",
		"\nFinal-Recipient: rfc822; plain@test.invalid\n",
		"\nDiagnostic-Code: smtp; 550 5.1.1 <ü-refuse@test.invalid>: refused\n",
	} {
		if !strings.Contains(string(msg), want) {
			t.Errorf("no %q:\n%s", want, msg)
		}
	}
	// zoë is both: expanded from itself is not said.
	if strings.Contains(string(msg), "Original-Recipient: rfc822; zo") {
		t.Errorf("a UTF-8 Original-Recipient typed rfc822:\n%s", msg)
	}
	d := parseWithPython(t, msg)
	if len(d.Defects) != 0 {
		t.Errorf("defects: %v", d.Defects)
	}
	if d.DSType != "message/global-delivery-status" || len(d.Blocks) != 4 {
		t.Fatalf("python: %s, blocks %v", d.DSType, d.Blocks)
	}
	if d.Blocks[0]["Reporting-MTA"] != "dns; vm" || d.Blocks[1]["Final-Recipient"] != "utf-8; zoë@vm" ||
		d.Blocks[2]["Final-Recipient"] != "utf-8; ü-refuse@test.invalid" || d.Blocks[2]["Remote-MTA"] != "dns; [127.0.0.1]" ||
		d.Blocks[3]["Final-Recipient"] != "rfc822; plain@test.invalid" || d.Blocks[3]["Status"] != "5.1.1" {
		t.Errorf("python read the blocks as %v", d.Blocks)
	}
	// The text part names them in UTF-8: 8-bit, and labelled so.
	if d.HumanCTE != "8bit" || d.HumanCharset != "utf-8" || !strings.Contains(d.Human, "<zoë@vm>: user unknown") {
		t.Errorf("text part: cte %q charset %q\n%s", d.HumanCTE, d.HumanCharset, d.Human)
	}

	// An Original-Recipient in UTF-8 that an alias led from.
	msg, err = BuildDSN(DSN{Host: "vm", Sender: "root@vm", Recipients: []Recipient{
		{Final: "bad@example.org", Original: "jürgen", Action: "failed", Status: "5.1.1", Diagnostic: "host h said: 550 no"},
	}}, strings.NewReader("Subject: hi\n\nx\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(msg); !strings.Contains(s, "\nFinal-Recipient: rfc822; bad@example.org\nOriginal-Recipient: utf-8; jürgen@vm\n") ||
		!strings.Contains(s, "Content-Type: message/global-delivery-status\n") {
		t.Errorf("Original-Recipient in UTF-8:\n%s", s)
	}
}

// A returned message whose header holds UTF-8 (RFC 6532) is
// message/global; returned as its header only, message/global-headers
// (RFC 6533). A UTF-8 body under an ASCII header stays
// message/rfc822, which 8bit allows; so does a header with 8-bit bytes
// that are not UTF-8, which is neither.
func TestDSNGlobalReturnedMessage(t *testing.T) {
	utf8Head := "From: Jürgen <root@vm>\nTo: ünï@test.invalid\nSubject: Grüße 日本語\nMIME-Version: 1.0\n" +
		"Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n"
	r := []Recipient{{Final: "ünï@test.invalid", Action: "failed", Status: "5.6.7",
		Diagnostic: "host 127.0.0.1 does not support SMTPUTF8, needed for ünï@test.invalid"}}
	for _, c := range []struct {
		name, orig  string
		headersOnly bool
		ct, subject string
	}{
		{"whole", utf8Head + "Hällo\n", false, "message/global", "Grüße 日本語"},
		{"too big", utf8Head + strings.Repeat("Hällo 0123456789\n", 4000), false, "message/global-headers", "Grüße 日本語"},
		{"RET=HDRS", utf8Head + "Hällo\n", true, "message/global-headers", "Grüße 日本語"},
		{"8-bit body", "From: root@vm\nSubject: plain\n\nHällo\n", false, "message/rfc822", "plain"},
		{"latin-1 header", "From: root@vm\nSubject: caf\xe9\n\nx\n", false, "message/rfc822", ""},
	} {
		msg, err := BuildDSN(DSN{Host: "vm", Sender: "root@vm", HeadersOnly: c.headersOnly, Recipients: r}, strings.NewReader(c.orig))
		if err != nil {
			t.Fatal(err)
		}
		_, _, ret := partHeaders(t, msg)
		if !strings.Contains(ret, "\nContent-Type: "+c.ct+"\nContent-Transfer-Encoding: 8bit") {
			t.Errorf("%s: returned part:\n%s", c.name, ret)
		}
		d := parseWithPython(t, msg)
		if len(d.Defects) != 0 {
			t.Errorf("%s: defects %v", c.name, d.Defects)
		}
		if d.AttachedType != c.ct || (c.subject != "" && d.AttachedSubj != c.subject) {
			t.Errorf("%s: python read the returned part as %s, Subject %q", c.name, d.AttachedType, d.AttachedSubj)
		}
		if d.DSType != "message/global-delivery-status" || d.Blocks[1]["Final-Recipient"] != "utf-8; ünï@test.invalid" {
			t.Errorf("%s: delivery status %s %v", c.name, d.DSType, d.Blocks)
		}
	}
}

// The text part's 8-bit text is labelled 8bit (RFC 2045 6.1: without a
// label it is 7bit); an ASCII one keeps no label.
func TestDSNHumanPartEncoding(t *testing.T) {
	for _, c := range []struct{ subject, want string }{
		{"Grüße", "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nThis is the mail system"},
		{"plain", "Content-Type: text/plain; charset=utf-8\n\nThis is the mail system"},
	} {
		msg, err := BuildDSN(DSN{Host: "vm", Sender: "root@vm", Recipients: []Recipient{
			{Final: "x@test.invalid", Status: "5.1.1", Diagnostic: "host h said: 550 no"},
		}}, strings.NewReader("Subject: "+c.subject+"\n\nx\n"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(msg), c.want) {
			t.Errorf("Subject %s: want %q:\n%s", c.subject, c.want, msg)
		}
	}
}

// The text part decodes an encoded word in any charset go-message's
// charset package knows, ISO-2022-JP and GB2312 as UTF-8; a field with a
// word in a charset that none knows is quoted as it is written, whole.
func TestDSNSubjectCharsets(t *testing.T) {
	for _, c := range []struct{ subject, want string }{
		{"=?UTF-8?B?5pel5pys6Kqe?= utf8", `"日本語 utf8"`},
		{"=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?= iso2022", `"日本語 iso2022"`},
		{"=?gb2312?B?xOO6ww==?= gb", `"你好 gb"`},
		{"=?shift_jis?B?k/qWe4zq?= sjis", `"日本語 sjis"`},
		{"=?windows-1252?Q?caf=E9?=", `"café"`},
		{"=?x-unknown?Q?abc?= =?UTF-8?Q?caf=C3=A9?=", `"=?x-unknown?Q?abc?= =?UTF-8?Q?caf=C3=A9?="`},
	} {
		msg, err := BuildDSN(DSN{Host: "vm", Sender: "root@vm", Recipients: []Recipient{
			{Final: "x@test.invalid", Status: "5.1.1", Diagnostic: "host h said: 550 no"},
		}}, strings.NewReader("Subject: "+c.subject+"\n\nx\n"))
		if err != nil {
			t.Fatal(err)
		}
		if h := humanText(t, msg); !strings.Contains(h, "Your message "+c.want+" could not") {
			t.Errorf("Subject %s: want %s:\n%s", c.subject, c.want, h)
		}
	}
}
