package submit

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"homepost/config"
	"homepost/outbox"
)

func testConfig(t *testing.T) *config.Config {
	home := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", home, "Alice Äpfel", 1000))
	cfg.Hostname = "host.example"
	cfg.Outbox = filepath.Join(home, "outbox")
	return cfg
}

// submitted queues msg and returns the queued message and envelope.
func submitted(t *testing.T, o Options, msg string) (string, *outbox.Envelope) {
	t.Helper()
	cfg := testConfig(t)
	if _, err := Submit(cfg, o, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	names, _ := outbox.Dir(cfg.Outbox).Names("new")
	if len(names) != 1 {
		t.Fatalf("queued %v", names)
	}
	raw, _ := os.ReadFile(filepath.Join(cfg.Outbox, "new", names[0]))
	env, body, err := outbox.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return string(body), env
}

func TestCompletesMissingFields(t *testing.T) {
	body, env := submitted(t, Options{Recipients: []string{"bob"}}, "Subject: hi\r\n\r\nbody\r\n")
	if env.Sender != "alice@host.example" || env.Rcpts[0].Addr != "bob" {
		t.Errorf("envelope %+v", env)
	}
	lines := strings.Split(body, "\n")
	if lines[0] != "Subject: hi" || lines[1] != "From: =?utf-8?q?Alice_=C3=84pfel?= <alice@host.example>" ||
		!strings.HasPrefix(lines[2], "Date: ") || !strings.HasPrefix(lines[3], "Message-ID: <") || lines[4] != "" || lines[5] != "body" {
		t.Errorf("completed header:\n%s", body)
	}
	if _, err := time.Parse(time.RFC1123Z, strings.TrimPrefix(lines[2], "Date: ")); err != nil {
		t.Errorf("Date: %v", err)
	}
}

func TestKeepsExistingFieldsByteForByte(t *testing.T) {
	msg := "From: x@y (Old \xe9 style)\nDate: whenever\nMessage-ID: <a@b>\nX-Folded: one\n\ttwo\nSubject : spaced\n\nbody\n"
	body, _ := submitted(t, Options{Recipients: []string{"bob"}, IgnoreDots: true}, msg)
	if body != msg {
		t.Errorf("got\n%q\nwant\n%q", body, msg)
	}
}

// TestEightBitFieldNameKeepsHeader: a field whose name has 8-bit bytes
// (Python's email package writes X-Ünïcode-Value raw) is a field: the
// Date and Message-ID homepost adds go at the end of the whole header,
// and the fields below it stay fields.
func TestEightBitFieldNameKeepsHeader(t *testing.T) {
	head := "From: a@b.c\nX-\xc3\x9cn\xc3\xafcode-Value: v\xc3\xa4l\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n"
	body, _ := submitted(t, Options{Recipients: []string{"bob"}}, head+"\n--b\n\npart\n--b--\n")
	h, rest, ok := strings.Cut(body, "\n\n")
	if !ok || !strings.HasPrefix(h+"\n", head) || !strings.Contains(h, "\nDate: ") || !strings.Contains(h, "\nMessage-ID: ") ||
		rest != "--b\n\npart\n--b--\n" {
		t.Errorf("header not kept whole:\n%s", body)
	}
	// A line without a colon still ends the header there.
	body, _ = submitted(t, Options{Recipients: []string{"bob"}}, "From: a@b.c\nno colon \xc3\xa4 here\nX: y\n")
	if !strings.Contains(body, "\n\nno colon \xc3\xa4 here\nX: y\n") {
		t.Errorf("a line that is no field did not begin the body:\n%s", body)
	}
}

func TestDotEndsMessageUnlessIgnored(t *testing.T) {
	body, _ := submitted(t, Options{Recipients: []string{"b"}}, "From: a@b\nDate: d\nMessage-ID: <m>\n\none\n.\ntwo\n")
	if !strings.HasSuffix(body, "\n\none\n") {
		t.Errorf("dot did not end: %q", body)
	}
	body, _ = submitted(t, Options{Recipients: []string{"b"}, IgnoreDots: true}, "From: a@b\nDate: d\nMessage-ID: <m>\n\none\n.\ntwo\n")
	if !strings.HasSuffix(body, "\n\none\n.\ntwo\n") {
		t.Errorf("-i: %q", body)
	}
}

func TestExtractAndRemoveBcc(t *testing.T) {
	msg := "To: A <a@x>,\n b@x\nCc: friends: c@x, \"D, d\" <d@x>;\nBcc: e@x\nbcc: f@x\nResent-Foo: no\nSubject: s\n\nb\n"
	// With a Resent- field, Resent-To/Cc/Bcc are used (there are none).
	cfg := testConfig(t)
	if _, err := Submit(cfg, Options{Extract: true}, strings.NewReader(msg)); err == nil {
		t.Error("Resent- header without Resent-To: expected no recipients")
	} else if _, ok := err.(*UsageError); !ok {
		t.Errorf("no recipients: %T, want a usage error (exit 64, as Postfix's sendmail)", err)
	} else if !strings.Contains(err.Error(), "it has a Resent-Foo field, so -t takes only Resent-To, Resent-Cc and Resent-Bcc") {
		// Says why To and Cc were passed over.
		t.Errorf("the error does not say why To and Cc are not read: %v", err)
	}
	msg = strings.Replace(msg, "Resent-Foo: no\n", "", 1)
	body, env := submitted(t, Options{Extract: true, Recipients: []string{"arg@x,a@x"}}, msg)
	var got []string
	for _, r := range env.Rcpts {
		got = append(got, r.Addr)
	}
	want := []string{"arg@x", "a@x", "b@x", "c@x", "d@x", "e@x", "f@x"}
	if !slices.Equal(got, want) {
		t.Errorf("recipients %v, want %v", got, want)
	}
	if strings.Contains(strings.ToLower(body), "bcc") || strings.Contains(body, "e@x") {
		t.Errorf("Bcc kept:\n%s", body)
	}
}

func TestLeadingFromLineDropped(t *testing.T) {
	body, _ := submitted(t, Options{Recipients: []string{"b"}, IgnoreDots: true}, "From someone Sat Jan  2 08:50:00 2021\nFrom: a@b\nDate: d\nMessage-ID: <m>\n\nx\n")
	if strings.HasPrefix(body, "From ") {
		t.Errorf("From_ line kept: %q", body)
	}
}

// FuzzHeader: whatever the input, the shim neither panics nor loses or
// rewrites a byte: the output is the input (CRLF as LF, a leading From_
// line and Bcc and Return-Path fields removed) with only whole fields
// added.
func FuzzHeader(f *testing.F) {
	f.Add([]byte("Subject: x\n\nbody\n"))
	f.Add([]byte(" From: odd start\nX: y\n"))
	f.Add([]byte("no header at all"))
	f.Add([]byte("To: a@b\r\nBcc: c@d\r\n\tfolded\r\n\r\n.\r\nx"))
	if ents, err := os.ReadDir("../../shared/corpus/messages"); err == nil {
		for _, e := range ents {
			if b, err := os.ReadFile(filepath.Join("../../shared/corpus/messages", e.Name())); err == nil && len(b) < 64<<10 {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		h, first, eom, err := readHeader(br, false)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := writeHeader(&out, h, nil); err != nil {
			t.Fatal(err)
		}
		out.Write(first)
		if !eom {
			copyBody(&out, br, false)
		}
		in := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		if bytes.HasPrefix(in, []byte("From ")) {
			if i := bytes.IndexByte(in, '\n'); i >= 0 {
				in = in[i+1:]
			} else {
				in = nil
			}
		}
		hasDropped := false
		for _, fl := range h.Fields {
			if dropped(fl.Name) {
				hasDropped = true
			}
		}
		if !hasDropped && !bytes.Equal(out.Bytes(), in) {
			t.Fatalf("changed:\n in %q\nout %q", in, out.Bytes())
		}
		if _, err := io.Copy(io.Discard, br); err != nil {
			t.Fatal(err)
		}
	})
}

// A header larger than MaxHeader passes through untouched.
func TestHugeHeaderPassesThrough(t *testing.T) {
	msg := "Subject: big\nX-Big: " + strings.Repeat("a", MaxHeader+10) + "\n\nbody\n"
	body, _ := submitted(t, Options{Recipients: []string{"b"}, IgnoreDots: true}, msg)
	if body != msg {
		t.Errorf("huge header changed: %d bytes in, %d out; start %q", len(msg), len(body), body[:40])
	}
}

func rcptList(env *outbox.Envelope) []string {
	var out []string
	for _, r := range env.Rcpts {
		out = append(out, r.Addr)
	}
	return out
}

// With -oem (MailErrors) a bad recipient address is returned to the
// user by mail, as sendmail does, instead of refusing the message (exit
// 65), which cron took for a failure and dropped the job's output.
func TestMailErrorsReturnsBadRecipient(t *testing.T) {
	body, env := submitted(t, Options{Recipients: []string{"bad@@x", "bob"}, MailErrors: true}, "Subject: cron output\n\noutput\n")
	var got []string
	for _, r := range env.Rcpts {
		got = append(got, r.Addr)
	}
	if !slices.Equal(got, []string{"bob", "alice"}) {
		t.Errorf("recipients %v, want bob and the user", got)
	}
	if !strings.Contains(body, "\nX-Homepost-Error: bad recipient address \"bad@@x\": ") || !strings.HasSuffix(body, "\n\noutput\n") {
		t.Errorf("message:\n%s", body)
	}
	// -t: a To field that cannot be read.
	body, env = submitted(t, Options{Extract: true, MailErrors: true}, "To: far-a@example.net far-b@example.net\nSubject: s\n\nx\n")
	if len(env.Rcpts) != 1 || env.Rcpts[0].Addr != "alice" || !strings.Contains(body, "X-Homepost-Error: bad address in To header") {
		t.Errorf("-t: %+v\n%s", env.Rcpts, body)
	}
	// The other addresses of the same argument or field are still
	// recipients: a MAILTO list with one typo, a Cc with one.
	_, env = submitted(t, Options{Recipients: []string{"carol, bad@@x"}, MailErrors: true}, "Subject: s\n\nx\n")
	if got := rcptList(env); !slices.Equal(got, []string{"carol", "alice"}) {
		t.Errorf("argument with a bad element: recipients %v, want carol and the user", got)
	}
	body, env = submitted(t, Options{Extract: true, MailErrors: true}, "To: carol\nCc: bad@@x, bob\nSubject: s\n\nx\n")
	if got := rcptList(env); !slices.Equal(got, []string{"carol", "bob", "alice"}) || !strings.Contains(body, "X-Homepost-Error: bad address in Cc header: \"bad@@x\"") {
		t.Errorf("-t with a bad Cc element: recipients %v, want carol, bob and the user\n%s", got, body)
	}
	// Without it, still refused.
	cfg := testConfig(t)
	if _, err := Submit(cfg, Options{Extract: true}, strings.NewReader("To: carol\nCc: bad@@x, bob\n\nx\n")); err == nil {
		t.Error("-t: a bad Cc element was queued without -oem")
	}
	if _, err := Submit(cfg, Options{Recipients: []string{"bad@@x"}}, strings.NewReader("x\n")); err == nil {
		t.Error("a bad address was queued without -oem")
	}
}

// An address that is not valid UTF-8 is refused at submission (exit 65,
// EX_DATAERR), as any address that cannot be read, whether it is given
// on the command line, to -f or in a field read by -t: a smarthost
// refuses it ("500 5.5.2 Error: bad UTF-8 syntax" from Postfix), and
// the bounce shows U+FFFD where the bytes were. A display name that is
// not UTF-8 is header text: its address is a recipient. With -oem the
// error, its bytes escaped, is mailed back as for other bad addresses.
func TestInvalidUTF8AddressRefused(t *testing.T) {
	cfg := testConfig(t)
	for _, o := range []Options{
		{Recipients: []string{"\xff\xfe@test.invalid"}},
		{Recipients: []string{"bob, j\xf6rg@example.org"}},
		{Recipients: []string{"bob"}, Sender: "\xff@example.org"},
		{Extract: true},
	} {
		_, err := Submit(cfg, o, strings.NewReader("To: bob, \"\xe9\"@example.org\nSubject: x\n\nx\n"))
		var de *DataError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "not valid UTF-8") {
			t.Errorf("%+v: %v, want a DataError for the address", o, err)
		}
	}
	if n, _ := outbox.Dir(cfg.Outbox).Names("new"); len(n) != 0 {
		t.Errorf("queued %v", n)
	}
	_, env := submitted(t, Options{Extract: true}, "To: J\xf6rg <joerg@example.org>\nSubject: x\n\nx\n")
	if got := rcptList(env); !slices.Equal(got, []string{"joerg@example.org"}) {
		t.Errorf("display name not UTF-8: recipients %q", got)
	}
	body, env := submitted(t, Options{Extract: true, MailErrors: true}, "To: bob, \xff\xfe@test.invalid\nSubject: x\n\nx\n")
	if got := rcptList(env); !slices.Equal(got, []string{"bob", "alice"}) || !strings.Contains(body, `X-Homepost-Error: bad address in To header: "\xff\xfe@test.invalid" is not an address: it is not valid UTF-8`) {
		t.Errorf("-oem: recipients %q\n%s", got, body)
	}
}

// A resent message (RFC 5322 3.6.6) gets Resent-From, Resent-Date and
// Resent-Message-ID where missing, and its own From, Date and Message-ID
// stay as they are, missing or not, as Postfix's cleanup does.
func TestResentFieldsCompleted(t *testing.T) {
	body, _ := submitted(t, Options{Extract: true, IgnoreDots: true},
		"Resent-To: erin\nFrom: orig@example.org\nTo: alice\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <orig@example.org>\nSubject: resend me\n\nbody\n")
	head, _, _ := strings.Cut(body, "\n\n")
	lines := strings.Split(head, "\n")
	want := []string{"Resent-To: erin", "From: orig@example.org", "To: alice", "Date: Mon, 1 Jan 2024 00:00:00 +0000", "Message-ID: <orig@example.org>", "Subject: resend me"}
	if len(lines) != 9 || !slices.Equal(lines[:6], want) ||
		lines[6] != "Resent-From: =?utf-8?q?Alice_=C3=84pfel?= <alice@host.example>" ||
		!strings.HasPrefix(lines[7], "Resent-Date: ") || !strings.HasPrefix(lines[8], "Resent-Message-ID: <") {
		t.Errorf("header:\n%s", head)
	}
	// Resent fields given: nothing added; the original's missing Date
	// and Message-ID are not added either.
	body, _ = submitted(t, Options{Extract: true, IgnoreDots: true},
		"Resent-From: root@vm\nResent-To: erin\nResent-Date: Fri, 04 Dec 2026 09:00:00 +0000\nResent-Message-ID: <r@vm>\nFrom: Me <root@vm>\nTo: alice\nSubject: resent test\n\nbody\n")
	if head, _, _ := strings.Cut(body, "\n\n"); strings.Count(head, "\n") != 6 {
		t.Errorf("fields added to a complete resent header:\n%s", head)
	}
	// A field that only begins with Resent- makes no resent message:
	// the missing From, Date and Message-ID are added.
	body, _ = submitted(t, Options{Recipients: []string{"bob"}, IgnoreDots: true}, "Resent-Foo: x\nSubject: s\n\nbody\n")
	if head, _, _ := strings.Cut(body, "\n\n"); !strings.Contains(head, "\nFrom: ") || !strings.Contains(head, "\nDate: ") || strings.Contains(head, "Resent-From") {
		t.Errorf("Resent-Foo alone:\n%s", head)
	}
}
