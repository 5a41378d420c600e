package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/test/testenv"
)

// dsnSeen is what a mail client sees of a DSN in the store.
type dsnSeen struct {
	Parts    []string            `json:"parts"`
	Human    string              `json:"human"`
	Blocks   []map[string]string `json:"blocks"`
	Attached string              `json:"attached"` // the returned message's bytes, as Python reads them
	Defects  []string            `json:"defects"`
}

// readDSNs parses every message in the store's new/ with Python's email
// module, an independent reader.
func readDSNs(t *testing.T, e *testenv.Env) []dsnSeen {
	t.Helper()
	out := testenv.Python(t, `
import email, json, os, sys
from email import policy
d = sys.argv[1]
res = []
for n in sorted(os.listdir(d)):
    m = email.message_from_binary_file(open(os.path.join(d, n), 'rb'), policy=policy.default)
    if m.get_content_type() != 'multipart/report':
        continue
    parts = list(m.iter_parts())
    r = {'parts': [p.get_content_type() for p in parts], 'defects': [str(x) for x in m.defects]}
    r['human'] = parts[0].get_content()
    r['blocks'] = [dict(b.items()) for b in parts[1].get_payload()]
    if parts[2].get_content_type() == 'message/rfc822':
        inner = parts[2].get_payload(0)
        r['attached'] = inner.as_bytes(policy=policy.compat32.clone(linesep='\n')).decode('utf-8', 'replace')
    else:
        r['attached'] = parts[2].get_payload(decode=True).decode('utf-8', 'replace')
    res.append(r)
print(json.dumps(res))
`, e.Path("Maildir", "new"))
	var ds []dsnSeen
	if err := json.Unmarshal([]byte(out), &ds); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return ds
}

// A bounce returns the message itself, not only its header: once the
// queue file is gone, the DSN is the only copy left (a cron report that
// waited for days). Over 50000 bytes only the header comes back, and
// the text says so.
func TestBounceReturnsMessage(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	h.Set("nobody@remote.example", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	from := testenv.Login(t) + "@testhost.example"
	body := "the only copy of the report: caf\xc3\xa9\n  indented line\n"
	e.MustSend("Subject: small\n\n"+body, "-f", from, "nobody@remote.example")
	e.Once()
	big := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\n", 1000)
	e.MustSend("Subject: large\n\n"+big, "-f", from, "nobody@remote.example")
	e.Once()
	ds := readDSNs(t, e)
	if len(ds) != 2 {
		t.Fatalf("want 2 DSNs, got %d", len(ds))
	}
	var small, large *dsnSeen
	for i := range ds {
		if strings.Contains(ds[i].Attached, "Subject: small") {
			small = &ds[i]
		} else if strings.Contains(ds[i].Attached, "Subject: large") {
			large = &ds[i]
		}
	}
	if small == nil || large == nil {
		t.Fatalf("DSNs: %+v", ds)
	}
	if small.Parts[2] != "message/rfc822" || !strings.HasSuffix(small.Attached, "\n\n"+body) ||
		!strings.Contains(small.Human, "It's attached below") || len(small.Defects) != 0 {
		t.Errorf("small message's DSN: parts %v defects %v\nhuman:\n%s\nattached:\n%s", small.Parts, small.Defects, small.Human, small.Attached)
	}
	if large.Parts[2] != "text/rfc822-headers" || strings.Contains(large.Attached, "0123456789") ||
		strings.Contains(large.Human, "It's attached below") || !strings.Contains(large.Human, "50000") {
		t.Errorf("large message's DSN: parts %v\nhuman:\n%s\nattached:\n%.300s", large.Parts, large.Human, large.Attached)
	}
}

// A copy that an alias sends on and the smarthost refuses is reported
// under the address refused, with the alias it was expanded from, as
// Postfix reports it: "<bad@x.org> (expanded from <lst@...>)".
func TestBounceNamesExpandedAddress(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte("lst: r1@x.org, bad@x.org\none: bad@x.org\n"), 0o600)
	h.Set("bad@x.org", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	from := testenv.Login(t) + "@testhost.example"
	e.MustSend("Subject: list\n\nx\n", "-f", from, "lst")
	e.Once()
	e.MustSend("Subject: one\n\nx\n", "-f", from, "one")
	e.Once()
	if h.Count("r1@x.org") != 1 {
		t.Errorf("r1@x.org got %d copies", h.Count("r1@x.org"))
	}
	ds := readDSNs(t, e)
	if len(ds) != 2 {
		t.Fatalf("want 2 DSNs, got %d", len(ds))
	}
	for _, d := range ds {
		alias := "lst"
		if strings.Contains(d.Attached, "Subject: one") {
			alias = "one"
		}
		want := "<bad@x.org> (expanded from <" + alias + "@testhost.example>): "
		if !strings.Contains(d.Human, want) || !strings.Contains(d.Human, "550") {
			t.Errorf("%s: human part lacks %q:\n%s", alias, want, d.Human)
		}
		if len(d.Blocks) != 2 || d.Blocks[1]["Final-Recipient"] != "rfc822; bad@x.org" ||
			d.Blocks[1]["Original-Recipient"] != "rfc822; "+alias+"@testhost.example" {
			t.Errorf("%s: blocks %v", alias, d.Blocks)
		}
	}
}

// An alias value that cannot be read is never dropped without a trace:
// the other values are delivered, that target bounces with a DSN naming
// file:line and the text, the log names file:line, and homepost resolve
// shows a warning and exits 67. The same when every value is bad. In
// ~/.forward such a value keeps a copy in the store, with a warning.
func TestUnparsableAliasValue(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	aliases := e.Path(".config", "homepost", "aliases")
	os.WriteFile(aliases, []byte("bad2: ok2@example.net, <unterminated@example.net\n"+
		"bad4: ok5@example.net, foo bar@example.net\n"+
		"allbad: foo bar@example.net\n"), 0o600)
	from := testenv.Login(t) + "@testhost.example"

	out, _, code := e.Run(nil, "homepost", "resolve", "bad2")
	if code != 67 || !strings.Contains(out, "warning: "+aliases+":1:") || !strings.Contains(out, "<unterminated@example.net") {
		t.Errorf("homepost resolve bad2: exit %d\n%s", code, out)
	}

	e.MustSend("Subject: t\n\nx\n", "-f", from, "bad2", "bad4")
	log := e.Once()
	e.MustSend("Subject: all\n\nx\n", "-f", from, "allbad")
	log += e.Once()
	if h.Count("ok2@example.net") != 1 || h.Count("ok5@example.net") != 1 {
		t.Errorf("smarthost got %v", h.All())
	}
	if !strings.Contains(log, aliases+":1") || !strings.Contains(log, aliases+":2") || !strings.Contains(log, aliases+":3") {
		t.Errorf("log does not name file:line:\n%s", log)
	}
	ds := readDSNs(t, e)
	if len(ds) != 2 {
		t.Fatalf("want 2 DSNs (no copy in the store), got %d: %+v", len(ds), ds)
	}
	for _, d := range ds {
		want := []string{"<allbad@testhost.example>: " + aliases + ":3: alias allbad: bad value: \"foo bar@example.net\""}
		if strings.Contains(d.Attached, "Subject: t") {
			want = []string{
				"<bad2@testhost.example>: " + aliases + ":1: alias bad2: bad value: \"<unterminated@example.net\"",
				"<bad4@testhost.example>: " + aliases + ":2: alias bad4: bad value: \"foo bar@example.net\"",
			}
		}
		for _, w := range want {
			if !strings.Contains(d.Human, w) {
				t.Errorf("DSN lacks %q:\n%s", w, d.Human)
			}
		}
		for _, b := range d.Blocks[1:] {
			if b["Status"] != "5.1.3" {
				t.Errorf("block %v", b)
			}
		}
	}

	// ~/.forward: the good value is delivered, the bad one keeps a copy.
	os.WriteFile(e.Path(".forward"), []byte("fwd@example.net, foo bar@example.net\n"), 0o600)
	e.MustSend("Subject: fwd\n\nx\n", "-f", from, testenv.Login(t))
	log = e.Once()
	if h.Count("fwd@example.net") != 1 {
		t.Errorf("smarthost got %v", h.All())
	}
	if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 3 {
		t.Errorf("store has %d messages, want the 2 DSNs and the kept copy", n)
	}
	if !strings.Contains(log, e.Path(".forward")+":1") || !strings.Contains(log, "kept in the local store") {
		t.Errorf("log:\n%s", log)
	}
}

// A DSN for mail that the smarthost refused, at once (5xx) or until the
// message expired (4xx), gives the server's reply as an smtp diagnostic
// and names the server that gave it (Remote-MTA, RFC 3464 2.3.5 and
// 2.3.6), as Postfix does: a bounce processor reads the reply code
// there. The text for people keeps why it failed (the expiry) and, as
// Postfix's does, which command the reply answered.
func TestBounceGivesSmarthostReply(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("max_queue_lifetime = \"1s\"\n[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	h.Set("grey@remote.example", &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "<grey@remote.example>: Recipient address rejected: Greylisted"})
	h.Set("nobody@remote.example", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	from := testenv.Login(t) + "@testhost.example"
	e.MustSend("Subject: grey\n\nx\n", "-f", from, "grey@remote.example")
	time.Sleep(1500 * time.Millisecond) // older than max_queue_lifetime at its first try
	e.Once()
	e.MustSend("Subject: gone\n\nx\n", "-f", from, "nobody@remote.example")
	e.Once()
	ds := readDSNs(t, e)
	if len(ds) != 2 {
		t.Fatalf("want 2 DSNs, got %d: %+v", len(ds), ds)
	}
	host, _, _ := strings.Cut(h.Addr, ":")
	for _, c := range []struct {
		subject, status, diag string
		human                 []string
	}{
		{"grey", "4.2.0", "smtp; 450 4.2.0 <grey@remote.example>: Recipient address rejected: Greylisted",
			[]string{"message expired after 1s in the queue: host " + host + " said: 450 4.2.0 <grey@remote.example>: Recipient address rejected: Greylisted (in reply to RCPT TO command)"}},
		{"gone", "5.1.1", "smtp; 550 5.1.1 no such user",
			[]string{"<nobody@remote.example>: host " + host + " said: 550 5.1.1 no such user (in reply to RCPT TO command)"}},
	} {
		var d *dsnSeen
		for i := range ds {
			if strings.Contains(ds[i].Attached, "Subject: "+c.subject) {
				d = &ds[i]
			}
		}
		if d == nil {
			t.Errorf("no DSN for %s: %+v", c.subject, ds)
			continue
		}
		if len(d.Blocks) != 2 || len(d.Defects) != 0 {
			t.Errorf("%s: blocks %v, defects %v", c.subject, d.Blocks, d.Defects)
			continue
		}
		r := d.Blocks[1]
		// The smarthost is named by its address: an address literal.
		if r["Status"] != c.status || r["Diagnostic-Code"] != c.diag || r["Remote-MTA"] != "dns; ["+host+"]" {
			t.Errorf("%s: recipient fields %v, want Status %s, Remote-MTA dns; [%s], Diagnostic-Code %q", c.subject, r, c.status, host, c.diag)
		}
		human := strings.Join(strings.Fields(d.Human), " ")
		for _, w := range c.human {
			if !strings.Contains(human, w) {
				t.Errorf("%s: the text for people lacks %q:\n%s", c.subject, w, d.Human)
			}
		}
	}
}
