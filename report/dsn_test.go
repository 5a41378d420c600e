package report

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pyDSN parses a DSN with Python's email module, an independent reader,
// and prints what a mail client would see.
const pyDSN = `
import email, json, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
out = {
  'defects': [str(d) for d in m.defects],
  'content_type': m.get_content_type(),
  'report_type': m.get_param('report-type'),
  'to': str(m['To']), 'from': str(m['From']), 'subject': str(m['Subject']),
  'auto_submitted': str(m['Auto-Submitted']),
  'parts': [p.get_content_type() for p in m.iter_parts()],
}
parts = list(m.iter_parts())
out['human'] = parts[0].get_content()
ds = parts[1]
# message/delivery-status: the per-message block, then one per recipient.
blocks = [dict(b.items()) for b in ds.get_payload()]
out['blocks'] = blocks
hdrs = parts[2]
out['orig'] = hdrs.get_payload(decode=True).decode('utf-8', 'replace')
for p in parts:
    out['defects'] += [str(d) for d in p.defects]
print(json.dumps(out))
`

type parsedDSN struct {
	Defects       []string            `json:"defects"`
	ContentType   string              `json:"content_type"`
	ReportType    string              `json:"report_type"`
	To            string              `json:"to"`
	From          string              `json:"from"`
	Subject       string              `json:"subject"`
	AutoSubmitted string              `json:"auto_submitted"`
	Parts         []string            `json:"parts"`
	Human         string              `json:"human"`
	Blocks        []map[string]string `json:"blocks"`
	Orig          string              `json:"orig"`
}

func parseWithPython(t *testing.T, msg []byte) parsedDSN {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("SKIP: python3 not installed: the DSN is not checked by an independent reader")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "dsn.eml")
	if err := os.WriteFile(p, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", pyDSN, p).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s\n--- message:\n%s", err, out, msg)
	}
	var d parsedDSN
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return d
}

const original = "From bob@example.com Thu Nov 26 10:00:00 2026\n" +
	"Return-Path: <bob@example.com>\r\n" +
	"From: Bob <bob@example.com>\r\n" +
	"To: root\r\n" +
	"Subject: =?utf-8?q?caf=C3=A9?= report\r\n" +
	"X-Long: a\r\n\tfolded line\r\n" +
	"\r\n" +
	"the body must not be in the DSN\r\n"

func TestBuildReadByPython(t *testing.T) {
	arrival := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	msg, err := BuildDSN(DSN{
		Host: "box.example.org", QueueID: "4ABC123", Sender: "bob@example.com", Arrival: arrival,
		Recipients: []Recipient{
			{Final: "alice@box.example.org", Original: "root", Action: "failed", Status: "5.4.6",
				Diagnostic: "mail forwarding loop for alice@box.example.org"},
			{Final: "carol@example.net", Action: "failed", Status: "5.1.1",
				Diagnostic: "550 5.1.1 <carol@example.net>: Recipient address rejected:\r\nInjected: header " + strings.Repeat("long ", 30)},
		},
	}, strings.NewReader(original))
	if err != nil {
		t.Fatal(err)
	}
	d := parseWithPython(t, msg)
	if len(d.Defects) != 0 {
		t.Errorf("defects: %v", d.Defects)
	}
	if d.ContentType != "multipart/report" || d.ReportType != "delivery-status" {
		t.Errorf("type %s report-type %s", d.ContentType, d.ReportType)
	}
	if strings.Join(d.Parts, ",") != "text/plain,message/delivery-status,text/rfc822-headers" {
		t.Errorf("parts %v", d.Parts)
	}
	if d.To != "bob@example.com" || !strings.HasPrefix(d.From, "MAILER-DAEMON@box.example.org") ||
		d.Subject != "Undelivered Mail Returned to Sender" || d.AutoSubmitted != "auto-replied" {
		t.Errorf("header: to %q from %q subject %q auto %q", d.To, d.From, d.Subject, d.AutoSubmitted)
	}
	if !strings.Contains(d.Human, "<alice@box.example.org>: mail forwarding loop") {
		t.Errorf("human part:\n%s", d.Human)
	}
	if len(d.Blocks) != 3 {
		t.Fatalf("blocks %v", d.Blocks)
	}
	if d.Blocks[0]["Reporting-MTA"] != "dns; box.example.org" || d.Blocks[0]["Arrival-Date"] != "Thu, 26 Nov 2026 10:00:00 +0000" {
		t.Errorf("per-message %v", d.Blocks[0])
	}
	r1, r2 := d.Blocks[1], d.Blocks[2]
	if r1["Final-Recipient"] != "rfc822; alice@box.example.org" || r1["Original-Recipient"] != "rfc822; root@box.example.org" ||
		r1["Action"] != "failed" || r1["Status"] != "5.4.6" ||
		r1["Diagnostic-Code"] != "X-Homepost; mail forwarding loop for alice@box.example.org" {
		t.Errorf("recipient 1 %v", r1)
	}
	if r2["Final-Recipient"] != "rfc822; carol@example.net" || r2["Status"] != "5.1.1" || r2["Original-Recipient"] != "" ||
		!strings.HasPrefix(r2["Diagnostic-Code"], "smtp; 550 5.1.1 <carol@example.net>: Recipient address rejected: Injected: header long") {
		t.Errorf("recipient 2 %v", r2)
	}
	if _, ok := r2["Injected"]; ok {
		t.Error("a diagnostic injected a field")
	}
	if strings.Contains(d.Orig, "From bob@") || !strings.Contains(d.Orig, "Subject: =?utf-8?q?caf=C3=A9?= report\n") ||
		!strings.Contains(d.Orig, "X-Long: a\n\tfolded line\n") || strings.Contains(d.Orig, "body") {
		t.Errorf("original headers:\n%s", d.Orig)
	}
}

func TestBuildDelayed(t *testing.T) {
	msg, err := BuildDSN(DSN{Host: "h", Sender: "<bob@example.com>", Recipients: []Recipient{
		{Final: "x@example.net", Action: "delayed", Status: "4.4.1", Diagnostic: "connection refused"},
	}}, strings.NewReader("Subject: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := parseWithPython(t, msg)
	if d.Subject != "Delayed Mail (still being retried)" || d.Blocks[1]["Action"] != "delayed" || d.Blocks[1]["Status"] != "4.4.1" {
		t.Errorf("%+v", d)
	}
	if d.To != "bob@example.com" || !strings.Contains(d.Orig, "Subject: x") {
		t.Errorf("to %q orig %q", d.To, d.Orig)
	}
}

func TestNoBounceOfBounce(t *testing.T) {
	for _, s := range []string{"", "<>", " <> ", "MAILER-DAEMON@example.org", "mailer-daemon"} {
		if ShouldBounce(s) {
			t.Errorf("ShouldBounce(%q) = true", s)
		}
		if _, err := BuildDSN(DSN{Sender: s, Recipients: []Recipient{{Final: "x"}}}, nil); err == nil {
			t.Errorf("Build to %q succeeded", s)
		}
	}
	for _, s := range []string{"bob@example.com", "<root@localhost>", "alice"} {
		if !ShouldBounce(s) {
			t.Errorf("ShouldBounce(%q) = false", s)
		}
	}
	if _, err := BuildDSN(DSN{Sender: "bob@example.com"}, nil); err == nil {
		t.Error("Build without recipients succeeded")
	}
}

// A huge header line and NUL bytes neither break the report nor make it
// unbounded.
func TestBuildBadOriginal(t *testing.T) {
	orig := "Subject: " + strings.Repeat("x", 1<<20) + "\nX-Nul: a\x00b\n\nbody\n"
	msg, err := BuildDSN(DSN{Host: "h", Sender: "bob@example.com", Recipients: []Recipient{
		{Final: "x@example.net", Status: "bogus", Diagnostic: "d"},
	}}, strings.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) > maxHeader+8192 {
		t.Errorf("DSN is %d bytes", len(msg))
	}
	d := parseWithPython(t, msg)
	if len(d.Blocks) != 2 || d.Blocks[1]["Status"] != "5.0.0" || d.Blocks[1]["Action"] != "failed" {
		t.Errorf("blocks %v", d.Blocks)
	}
}

// FuzzBuild: any report and original give a DSN or an error, never a
// panic, and the header never gains a line from the input.
func FuzzBuild(f *testing.F) {
	f.Add("bob@example.com", "x@y", "5.1.1", "550 no\r\nX: y", "Subject: a\n\nb")
	f.Add("<>", "", "", "", "")
	f.Add("a", "b\nc", "4.0.0", "d", "From x\nA: b\n")
	f.Fuzz(func(t *testing.T, sender, final, status, diag, orig string) {
		msg, err := BuildDSN(DSN{Host: "h", Sender: sender, Recipients: []Recipient{
			{Final: final, Status: status, Diagnostic: diag, Action: "failed"},
		}}, strings.NewReader(orig))
		if err != nil {
			return
		}
		head, _, _ := strings.Cut(string(msg), "\n\n")
		for _, l := range strings.Split(head, "\n") {
			name, _, _ := strings.Cut(l, ":")
			switch name {
			case "From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type", "Content-Transfer-Encoding":
			default:
				if !strings.HasPrefix(l, "\tboundary=") {
					t.Fatalf("unexpected header line %q", l)
				}
			}
		}
	})
}
