package report

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pyDSN parses a DSN with Python's email module, an independent reader,
// and prints what a mail client would see.
const pyDSN = `
import email, json, re, sys
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
out['ds_type'] = ds.get_content_type()
out['ds_cte'] = str(ds.get('Content-Transfer-Encoding', ''))
out['human_cte'] = str(parts[0].get('Content-Transfer-Encoding', ''))
out['human_charset'] = str(parts[0].get_param('charset'))
if ds.get_content_type() == 'message/global-delivery-status':
    # Python knows only message/delivery-status: it reads another
    # message/* as a message, whose header is the per-message block
    # and whose body the recipients' blocks.
    inner = ds.get_payload(0)
    blocks = [dict(inner.items())]
    rest = inner.get_payload(decode=True) or b''
    for chunk in re.split(rb'\n[ \t]*\n', rest.strip()):
        blocks.append(dict(email.message_from_bytes(chunk, policy=policy.default).items()))
else:
    # message/delivery-status: the per-message block, then one per recipient.
    blocks = [dict(b.items()) for b in ds.get_payload()]
out['blocks'] = blocks
hdrs = parts[2]
out['attached_type'] = hdrs.get_content_type()
if hdrs.get_content_maintype() == 'message':
    # message/rfc822, message/global, message/global-headers
    inner = hdrs.get_payload(0)
    out['orig'] = inner.as_bytes(policy=policy.compat32.clone(linesep='\n')).decode('utf-8', 'replace')
    out['attached_subject'] = str(inner['Subject'])
    out['attached_body'] = inner.get_payload(decode=True).decode('utf-8', 'replace') if not inner.is_multipart() else ''
    out['defects'] += [str(d) for d in inner.defects]
else:
    out['orig'] = hdrs.get_payload(decode=True).decode('utf-8', 'replace')
for p in parts:
    out['defects'] += [str(d) for d in p.defects]
print(json.dumps(out))
`

type parsedDSN struct {
	Defects       []string            `json:"defects"`
	DSType        string              `json:"ds_type"`
	DSCTE         string              `json:"ds_cte"`
	HumanCTE      string              `json:"human_cte"`
	HumanCharset  string              `json:"human_charset"`
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
	AttachedType  string              `json:"attached_type"`
	AttachedSubj  string              `json:"attached_subject"`
	AttachedBody  string              `json:"attached_body"`
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
	"the body is returned too\r\n"

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
	if strings.Join(d.Parts, ",") != "text/plain,message/delivery-status,message/rfc822" {
		t.Errorf("parts %v", d.Parts)
	}
	if d.To != "bob@example.com" || !strings.HasPrefix(d.From, "MAILER-DAEMON@box.example.org") ||
		d.Subject != "Undelivered Mail Returned to Sender" || d.AutoSubmitted != "auto-replied" {
		t.Errorf("header: to %q from %q subject %q auto %q", d.To, d.From, d.Subject, d.AutoSubmitted)
	}
	if !strings.Contains(d.Human, "<alice@box.example.org> (expanded from <root@box.example.org>): mail forwarding loop") {
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
	if strings.Contains(d.Orig, "From bob@") || !strings.Contains(d.Orig, "Subject: =?utf-8?q?caf=C3=A9?= report") ||
		!strings.Contains(d.Orig, "X-Long: a") || !strings.Contains(d.AttachedBody, "the body is returned too") {
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

// attachment returns the bytes of the DSN's third part: what follows
// its header, up to the closing boundary.
func attachment(t *testing.T, msg []byte) (header, body string) {
	t.Helper()
	s := string(msg)
	m := regexp.MustCompile(`boundary="?([^";\s]+)`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no boundary:\n%s", s)
	}
	b := m[1]
	parts := strings.Split(s, "\n--"+b)
	if len(parts) != 5 || parts[4] != "--\n" {
		t.Fatalf("want 3 parts and a closing boundary, got %d pieces:\n%s", len(parts), s)
	}
	header, body, ok := strings.Cut(strings.TrimPrefix(parts[3], "\n"), "\n\n")
	if !ok {
		t.Fatalf("third part has no header end:\n%s", parts[3])
	}
	return header, body
}

// A bounce returns the whole message (RFC 3464 section 2: the returned
// content), byte for byte, as message/rfc822, as Postfix does up to
// bounce_size_limit: once the queue file is gone it is the only copy.
func TestBuildAttachesWholeMessage(t *testing.T) {
	orig := "From: cron@example.org\nSubject: caf\xc3\xa9 report\nX-Folded: a\n\tb\n\n" +
		"line one\n--homepost-not-the-boundary\n\n\n  trailing spaces  \nno newline at the end"
	msg, err := BuildDSN(DSN{Host: "h.example", Sender: "bob@example.com", Recipients: []Recipient{
		{Final: "x@example.net", Status: "5.1.1", Diagnostic: "550 5.1.1 no such user"},
	}}, strings.NewReader("From cron@example.org Thu Nov 26 10:00:00 2026\n"+orig))
	if err != nil {
		t.Fatal(err)
	}
	hdr, body := attachment(t, msg)
	// Its Subject is raw UTF-8: message/global (RFC 6532 3.7).
	if !strings.Contains(hdr, "Content-Type: message/global\n") || !strings.Contains(hdr, "Content-Transfer-Encoding: 8bit") {
		t.Errorf("part header:\n%s", hdr)
	}
	if body != orig {
		t.Errorf("attached message changed:\n%q\nwant\n%q", body, orig)
	}
	d := parseWithPython(t, msg)
	if len(d.Defects) != 0 {
		t.Errorf("defects: %v", d.Defects)
	}
	if d.AttachedType != "message/global" || d.AttachedSubj != "café report" ||
		!strings.Contains(d.AttachedBody, "trailing spaces") || !strings.HasSuffix(d.AttachedBody, "no newline at the end") {
		t.Errorf("attached: %s %q %q", d.AttachedType, d.AttachedSubj, d.AttachedBody)
	}
	if !strings.Contains(d.Human, "It's attached below") || strings.Contains(d.Human, "header") {
		t.Errorf("human part:\n%s", d.Human)
	}
}

// Over BounceSizeLimit only the header comes back, as with Postfix's
// bounce_size_limit, and the text says so; at the limit, all of it.
func TestBuildLargeMessageHeadersOnly(t *testing.T) {
	head := "From: backup@example.org\nSubject: big\n\n"
	for _, n := range []int{BounceSizeLimit - len(head), BounceSizeLimit - len(head) + 1, 10 << 20} {
		orig := head + strings.Repeat("0123456789abcde\n", n/16) + strings.Repeat("x", n%16)
		msg, err := BuildDSN(DSN{Host: "h", Sender: "bob@example.com", Recipients: []Recipient{
			{Final: "x@example.net", Status: "5.2.2", Diagnostic: "552 too big"},
		}}, strings.NewReader(orig))
		if err != nil {
			t.Fatal(err)
		}
		ph, body := attachment(t, msg)
		d := parseWithPython(t, msg)
		if len(d.Defects) != 0 {
			t.Errorf("%d: defects: %v", n, d.Defects)
		}
		if len(orig) <= BounceSizeLimit {
			if body != orig || !strings.Contains(ph, "message/rfc822") || !strings.Contains(d.Human, "It's attached below") {
				t.Errorf("%d bytes: not attached whole (%d bytes attached):\n%s\n%s", len(orig), len(body), ph, d.Human)
			}
			continue
		}
		if !strings.Contains(ph, "Content-Type: text/rfc822-headers") || body != "From: backup@example.org\nSubject: big\n" {
			t.Errorf("%d bytes: want the header only, got:\n%s\n\n%q", len(orig), ph, body)
		}
		if len(msg) > 8192 {
			t.Errorf("%d bytes: DSN is %d bytes", len(orig), len(msg))
		}
		if strings.Contains(d.Human, "It's attached below") || !strings.Contains(d.Human, "50000") ||
			!strings.Contains(d.Human, "header") {
			t.Errorf("%d bytes: human part does not say only the header is returned:\n%s", len(orig), d.Human)
		}
	}
}

// RET=HDRS (sendmail -R hdrs, RFC 3461): the sender asked for the header
// only.
func TestBuildRetHeaders(t *testing.T) {
	msg, err := BuildDSN(DSN{Host: "h", Sender: "bob@example.com", HeadersOnly: true, Recipients: []Recipient{
		{Final: "x@example.net", Status: "5.1.1", Diagnostic: "550 no"},
	}}, strings.NewReader("Subject: s\n\nsecret body\n"))
	if err != nil {
		t.Fatal(err)
	}
	ph, body := attachment(t, msg)
	if !strings.Contains(ph, "text/rfc822-headers") || body != "Subject: s\n" {
		t.Errorf("got:\n%s\n\n%q", ph, body)
	}
	d := parseWithPython(t, msg)
	if strings.Contains(d.Human, "It's attached below") || !strings.Contains(d.Human, "header") {
		t.Errorf("human part:\n%s", d.Human)
	}
}

// ENVID (sendmail -V) comes back as Original-Envelope-Id, the first of
// the per-message fields (RFC 3464 2.2.1), read so by Python's email.
func TestBuildEnvID(t *testing.T) {
	msg, err := BuildDSN(DSN{Host: "h", Sender: "bob@example.com", EnvID: "ENV-42", Recipients: []Recipient{
		{Final: "x@example.net", Status: "5.1.1", Diagnostic: "550 no"},
	}}, strings.NewReader("Subject: s\n\nbody\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg), "\n\nOriginal-Envelope-Id: ENV-42\nReporting-MTA: dns; h\n") {
		t.Errorf("no Original-Envelope-Id before Reporting-MTA:\n%s", msg)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("SKIP: python3 not installed")
	}
	p := filepath.Join(t.TempDir(), "dsn.eml")
	if err := os.WriteFile(p, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", `
import email, sys
m = email.message_from_bytes(open(sys.argv[1], 'rb').read())
for p in m.walk():
    if p.get_content_type() == 'message/delivery-status':
        print(p.get_payload()[0]['Original-Envelope-Id'])
`, p).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ENV-42" {
		t.Errorf("python read Original-Envelope-Id %q (%v)", out, err)
	}
}

// A message with a NUL byte or a line over 998 bytes is returned whole
// too, marked binary (message/rfc822 allows no other encoding).
func TestBuildAttachesBinary(t *testing.T) {
	orig := "Subject: odd\n\na\x00b\n" + strings.Repeat("y", 2000) + "\n"
	msg, err := BuildDSN(DSN{Host: "h", Sender: "bob@example.com", Recipients: []Recipient{
		{Final: "x@example.net", Status: "5.1.1", Diagnostic: "550 no"},
	}}, strings.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	ph, body := attachment(t, msg)
	if body != orig || !strings.Contains(ph, "Content-Transfer-Encoding: binary") ||
		!strings.Contains(string(msg), "\nContent-Transfer-Encoding: binary\n\nThis is a MIME") {
		t.Errorf("got:\n%s", msg)
	}
	d := parseWithPython(t, msg)
	if d.AttachedSubj != "odd" || !strings.Contains(d.AttachedBody, "a\x00b") {
		t.Errorf("attached: %q %q, defects %v", d.AttachedSubj, d.AttachedBody, d.Defects)
	}
}

// A smarthost's reply, which the agent words "host H said: REPLY", is an
// smtp diagnostic (RFC 3464 2.3.6), as Postfix writes it: the reply
// alone after "smtp;", and the server that gave it is the Remote-MTA
// (2.3.5); the text for people keeps who said it, which command it
// answered, and why the message failed (it expired), where the agent
// says so around the reply. A reason of this host's own (a command's
// words that quote a reply) names no remote server.
func TestDiagnosticOfSmarthostReply(t *testing.T) {
	msg, err := BuildDSN(DSN{
		Host: "box.example.org", QueueID: "4ABC123", Sender: "bob@example.com", Arrival: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		Recipients: []Recipient{
			{Final: "dave@example.net", Action: "failed", Status: "5.1.1",
				Diagnostic: "host smtp.example.net said: 550 5.1.1 no such user (in reply to RCPT TO command)"},
			{Final: "erin@example.net", Action: "failed", Status: "4.2.0",
				Diagnostic: "message expired after 4m0s in the queue: host 127.0.0.1 said: 450 4.2.0 <erin@example.net>: Recipient address rejected: Greylisted (in reply to RCPT TO command)"},
			{Final: "frank@example.net", Action: "failed", Status: "4.7.8",
				Diagnostic: "message expired after 5d0h0m0s in the queue: authentication failed: host smtp.example.net said: 535 5.7.8 bad credentials (in reply to AUTH command)"},
			{Final: "gina@example.net", Action: "failed", Status: "5.1.0",
				Diagnostic: "message expired after 1m0s in the queue: command |filter said: host smtp.example.net said: 550 5.1.1 no"},
		},
	}, strings.NewReader(original))
	if err != nil {
		t.Fatal(err)
	}
	d := parseWithPython(t, msg)
	if len(d.Defects) != 0 || len(d.Blocks) != 5 {
		t.Fatalf("defects %v, blocks %v\n%s", d.Defects, d.Blocks, msg)
	}
	for i, want := range []struct{ remote, diag string }{
		{"dns; smtp.example.net", "smtp; 550 5.1.1 no such user"},
		{"dns; [127.0.0.1]", "smtp; 450 4.2.0 <erin@example.net>: Recipient address rejected: Greylisted"},
		{"dns; smtp.example.net", "smtp; 535 5.7.8 bad credentials"},
		{"", "X-Homepost; message expired after 1m0s in the queue: command |filter said: host smtp.example.net said: 550 5.1.1 no"},
	} {
		r := d.Blocks[i+1]
		if r["Remote-MTA"] != want.remote || r["Diagnostic-Code"] != want.diag {
			t.Errorf("recipient %d: Remote-MTA %q, Diagnostic-Code %q; want %q, %q", i+1, r["Remote-MTA"], r["Diagnostic-Code"], want.remote, want.diag)
		}
	}
	human := strings.Join(strings.Fields(d.Human), " ")
	for _, w := range []string{
		"<dave@example.net>: host smtp.example.net said: 550 5.1.1 no such user (in reply to RCPT TO command)",
		"<erin@example.net>: message expired after 4m0s in the queue: host 127.0.0.1 said: 450 4.2.0 <erin@example.net>: Recipient address rejected: Greylisted (in reply to RCPT TO command)",
	} {
		if !strings.Contains(human, w) {
			t.Errorf("the text for people lacks %q:\n%s", w, d.Human)
		}
	}
	// RFC 3464's order: Remote-MTA between Status and Diagnostic-Code.
	if !strings.Contains(string(msg), "Status: 5.1.1\nRemote-MTA: dns; smtp.example.net\nDiagnostic-Code: smtp; 550 5.1.1 no such user\n") {
		t.Errorf("fields out of order:\n%s", msg)
	}
}

// A smarthost named by its address (url = "smtp://127.0.0.1:2525") is
// the Remote-MTA as an address literal, the form RFC 5321 (4.1.3) gives
// a host without a name: "[127.0.0.1]", "[IPv6:::1]"; a name stays as
// it is.
func TestRemoteMTAAddressLiteral(t *testing.T) {
	for _, c := range []struct{ host, want string }{
		{"127.0.0.1", "Remote-MTA: dns; [127.0.0.1]\n"},
		{"::1", "Remote-MTA: dns; [IPv6:::1]\n"},
		{"2001:DB8::25", "Remote-MTA: dns; [IPv6:2001:db8::25]\n"},
		{"::ffff:192.0.2.1", "Remote-MTA: dns; [IPv6:::ffff:192.0.2.1]\n"},
		{"fe80::1%eth0", "Remote-MTA: dns; [IPv6:fe80::1]\n"},
		{"smtp.example.net", "Remote-MTA: dns; smtp.example.net\n"},
		{"127.0.0.1.example.net", "Remote-MTA: dns; 127.0.0.1.example.net\n"},
	} {
		msg, err := BuildDSN(DSN{
			Host: "box.example.org", QueueID: "4ABC123", Sender: "bob@example.com", Arrival: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
			Recipients: []Recipient{{Final: "dave@example.net", Action: "failed", Status: "5.1.1",
				Diagnostic: "host " + c.host + " said: 550 5.1.1 no such user (in reply to RCPT TO command)"}},
		}, strings.NewReader(original))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(msg), "Status: 5.1.1\n"+c.want+"Diagnostic-Code: smtp; 550 5.1.1 no such user\n") {
			t.Errorf("host %s: want %q:\n%s", c.host, c.want, msg)
		}
	}
}
