// Package postfix tests the relay against a real MTA: a Debian Postfix
// on 127.0.0.1:2525, set up by setup.sh beside this file, that stores
// everything for test.invalid in one Maildir. Messages are queued with
// submit, as sendmail does, and handed over by the relay client, without
// the agent. The test skips, saying why, when Postfix is not there.
package postfix

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"homepost/config"
	"homepost/courier"
	"homepost/outbox"
	"homepost/relay"
	"homepost/submit"
)

const addr = "127.0.0.1:2525"

// maildir is where Postfix stores what it accepts for test.invalid.
func maildir() string {
	if d := os.Getenv("HOMEPOST_POSTFIX_MAILDIR"); d != "" {
		return d
	}
	return "/var/spool/homepost-test/inbox"
}

func needPostfix(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Skipf("SKIP: no Postfix on %s (%v); run test/postfix/setup.sh as root", addr, err)
	}
	c.Close()
	if _, err := os.Stat(filepath.Join(maildir(), "..")); err != nil {
		t.Skipf("SKIP: Postfix's Maildir %s is not readable: %v", maildir(), err)
	}
}

func testConfig(t *testing.T, from string) *config.Config {
	home := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", home, "Alice Liddell", os.Getuid()))
	cfg.Hostname = "laptop"
	cfg.LocalDomains = []string{"localhost", "laptop"}
	cfg.Outbox = filepath.Join(home, "outbox")
	cfg.Relay.URL = "smtp://" + addr
	cfg.Relay.From = from
	return cfg
}

// queued is a message in the outbox, ready for the relay.
type queued struct {
	id   string
	env  *outbox.Envelope
	body []byte
}

func enqueue(t *testing.T, cfg *config.Config, o submit.Options, msg []byte) queued {
	t.Helper()
	res, err := submit.Submit(cfg, o, bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	p, err := outbox.Dir(cfg.Outbox).Find(res.ID)
	if err != nil {
		t.Fatal(err)
	}
	m, err := outbox.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	body, err := io.ReadAll(m.Body())
	if err != nil {
		t.Fatal(err)
	}
	return queued{id: res.ID, env: m.Env, body: body}
}

func (q queued) outgoing() *courier.Outgoing {
	var rcpts []string
	for _, r := range q.env.Rcpts {
		rcpts = append(rcpts, r.Addr)
	}
	return &courier.Outgoing{ID: q.id, Sender: q.env.Sender, Rcpts: rcpts, Size: int64(len(q.body)),
		Open: func() io.Reader { return bytes.NewReader(q.body) }}
}

func send(t *testing.T, cfg *config.Config, qs ...queued) {
	t.Helper()
	c, err := relay.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*courier.Outgoing
	for _, q := range qs {
		msgs = append(msgs, q.outgoing())
	}
	res := c.Send(context.Background(), msgs)
	for i, rs := range res {
		for j, r := range rs {
			if r.Status != outbox.Sent {
				t.Fatalf("message %d to %s: %s", i, msgs[i].Rcpts[j], r.Text())
			}
		}
	}
}

// arrived waits for n copies that contain token and returns them.
func arrived(t *testing.T, token string, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var found [][]byte
		for _, sub := range []string{"new", "cur"} {
			ents, _ := os.ReadDir(filepath.Join(maildir(), sub))
			for _, e := range ents {
				b, err := os.ReadFile(filepath.Join(maildir(), sub, e.Name()))
				if err == nil && bytes.Contains(b, []byte(token)) {
					found = append(found, b)
				}
			}
		}
		if len(found) >= n {
			if len(found) > n {
				t.Errorf("%d copies of %s arrived, want %d", len(found), token, n)
			}
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d copies of %s arrived within 30s (see the Postfix log)", len(found), n, token)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// header returns the value of the first field called name, or "".
func header(msg []byte, name string) string {
	head, _, _ := bytes.Cut(msg, []byte("\n\n"))
	for _, l := range strings.Split(string(head), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func token(t *testing.T) string {
	return fmt.Sprintf("hp-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
}

// TestBccStaysSecret: a message queued with -t semantics reaches every
// recipient, Bcc included, and no copy carries the Bcc field; the visible
// recipients' copies do not mention the hidden one at all.
func TestBccStaysSecret(t *testing.T) {
	needPostfix(t)
	tok := token(t)
	cfg := testConfig(t, "alice@sender.test.invalid")
	msg := "From: Alice Liddell <alice>\n" +
		"To: Bob <bob@test.invalid>\n" +
		"Cc: carol@test.invalid\n" +
		"Bcc: Hidden <secret@test.invalid>\n" +
		"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= " + tok + "\n" +
		"X-Folded: first part\n\tsecond part\n" +
		"X-Raw-8bit: Grüße aus Köln\n" +
		"\n" +
		"Line one.\n.\n..two dots\nlast line\n"
	q := enqueue(t, cfg, submit.Options{Extract: true}, []byte(msg))
	if len(q.env.Rcpts) != 3 {
		t.Fatalf("envelope recipients %+v", q.env.Rcpts)
	}
	send(t, cfg, q)

	copies := arrived(t, tok, 3)
	want := bytes.Replace(q.body, []byte("From: Alice Liddell <alice>\n"), []byte("From: Alice Liddell <alice@sender.test.invalid>\n"), 1)
	seen := map[string]bool{}
	for _, c := range copies {
		to := header(c, "Delivered-To")
		seen[to] = true
		if header(c, "Bcc") != "" || bytes.Contains(c, []byte("\nBcc:")) {
			t.Errorf("copy for %s has a Bcc field:\n%s", to, c)
		}
		if to != "secret@test.invalid" && bytes.Contains(c, []byte("secret")) {
			t.Errorf("copy for %s mentions the Bcc recipient:\n%s", to, c)
		}
		if rp := header(c, "Return-Path"); rp != "<alice@sender.test.invalid>" {
			t.Errorf("copy for %s: Return-Path %q", to, rp)
		}
		// Postfix prepends its trace fields; what follows is the
		// queued message byte for byte but for the rewritten From.
		if !bytes.HasSuffix(c, want) {
			t.Errorf("copy for %s is not the queued message:\n--- got\n%s\n--- want suffix\n%s", to, c, want)
		}
	}
	for _, r := range []string{"bob@test.invalid", "carol@test.invalid", "secret@test.invalid"} {
		if !seen[r] {
			t.Errorf("no copy for %s (got %v)", r, seen)
		}
	}
}

// TestManyOnOneConnection sends a batch; Postfix logs nothing we can
// count here, so this checks delivery of every message of a batch.
func TestManyOnOneConnection(t *testing.T) {
	needPostfix(t)
	tok := token(t)
	cfg := testConfig(t, "")
	var qs []queued
	for i := range 20 {
		qs = append(qs, enqueue(t, cfg, submit.Options{Recipients: []string{fmt.Sprintf("r%d@test.invalid", i)}},
			[]byte(fmt.Sprintf("Subject: %s %d\n\nmessage %d\n", tok, i, i))))
	}
	send(t, cfg, qs...)
	arrived(t, tok, 20)
}

// TestCorpus sends the real-world messages of the shared corpus and
// checks that Postfix stored each one as queued.
func TestCorpus(t *testing.T) {
	needPostfix(t)
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "corpus", "messages")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("SKIP: no corpus: %v", err)
	}
	cfg := testConfig(t, "")
	var qs []queued
	var names, toks []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		// Each copy goes to its own address, so it can be found.
		tok := fmt.Sprintf("corpus-%d-%d", time.Now().UnixNano(), len(qs))
		qs = append(qs, enqueue(t, cfg, submit.Options{Recipients: []string{tok + "@test.invalid"}, IgnoreDots: true}, raw))
		names = append(names, e.Name())
		toks = append(toks, tok)
	}
	send(t, cfg, qs...)
	for i, q := range qs {
		c := arrived(t, "Delivered-To: "+toks[i]+"@test.invalid\n", 1)
		want := q.body
		if !bytes.HasSuffix(want, []byte("\n")) {
			// SMTP ends the data with CRLF "." CRLF: a last line
			// without its newline gets one, whatever the MTA.
			want = append(want, '\n')
		}
		if names[i] == "cpython-msg_15.eml" {
			// Its "To: XX" has no domain: mail that leaves through
			// the smarthost gets the host's (append_at_myorigin), the
			// one change the relay makes to a header.
			want = bytes.Replace(want, []byte("\nTo: XX\n"), []byte("\nTo: XX@laptop\n"), 1)
		}
		// A line over 998 octets leaves broken, as Postfix's smtp(8)
		// breaks it (smtp_line_length_limit).
		want = brokenLines(want)
		if bytes.Contains(bytes.ReplaceAll(want, []byte("\r\n"), nil), []byte("\r")) {
			// Bare CRs are not allowed in SMTP (RFC 5321 2.3.8) and
			// Postfix changes them; arrival is all that can be checked.
			t.Logf("%s: has bare CR; not compared byte for byte", names[i])
			continue
		}
		if !bytes.HasSuffix(c[0], want) {
			if d := os.Getenv("HOMEPOST_POSTFIX_DUMP"); d != "" {
				os.WriteFile(filepath.Join(d, names[i]+".got"), c[0], 0o644)
				os.WriteFile(filepath.Join(d, names[i]+".want"), want, 0o644)
			}
			t.Errorf("%s: Postfix's copy differs from the queued message:\n--- got\n%.2000s\n--- want suffix\n%.2000s", names[i], c[0], q.body)
		}
	}
}

// brokenLines is b with each line longer than 998 octets broken as
// Postfix's smtp_line_length_limit breaks it: a newline and a space
// after the first 998 octets, then after each 997 that follow the space.
func brokenLines(b []byte) []byte {
	const limit = 998
	var out []byte
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		text := bytes.TrimSuffix(line, []byte("\n"))
		room := limit
		for len(text) > room {
			out = append(out, text[:room]...)
			out = append(out, "\n "...)
			text = text[room:]
			room = limit - 1
		}
		out = append(out, text...)
		if bytes.HasSuffix(line, []byte("\n")) {
			out = append(out, '\n')
		}
	}
	return out
}

// TestExecRelay hands a message to Postfix's own sendmail through an
// exec: relay, as on a host that runs a real MTA.
func TestExecRelay(t *testing.T) {
	needPostfix(t)
	const prog = "/usr/sbin/sendmail.postfix"
	if _, err := os.Stat(prog); err != nil {
		t.Skipf("SKIP: no %s: %v", prog, err)
	}
	tok := token(t)
	cfg := testConfig(t, "alice@sender.test.invalid")
	cfg.Relay.URL = "exec:" + prog + " -i"
	q := enqueue(t, cfg, submit.Options{Extract: true}, []byte("From: root (Cron Daemon)\nTo: dave@test.invalid\nBcc: erin@test.invalid\nSubject: "+tok+"\n\n.\nbody\n"))
	send(t, cfg, q)
	copies := arrived(t, tok, 2)
	want := bytes.Replace(q.body, []byte("From: root (Cron Daemon)\n"), []byte("From: Cron Daemon <alice@sender.test.invalid>\n"), 1)
	for _, c := range copies {
		if !bytes.HasSuffix(c, want) {
			t.Errorf("copy differs:\n--- got\n%s\n--- want suffix\n%s", c, want)
		}
		if rp := header(c, "Return-Path"); rp != "<alice@sender.test.invalid>" {
			t.Errorf("Return-Path %q", rp)
		}
		if bytes.Contains(c, []byte("\nBcc:")) {
			t.Errorf("Bcc field delivered:\n%s", c)
		}
	}
}
