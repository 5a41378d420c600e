package mailx

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/report"
	"homepost/test/testenv"
)

// homepostBounce is the DSN homepost writes for a message that failed.
func homepostBounce(t *testing.T) string {
	t.Helper()
	orig := "From: me@example.org\nTo: r-later-x@test.invalid, r-fine@test.invalid\n" +
		"Subject: E1-expire\nDate: Thu, 03 Dec 2026 12:10:26 +0000\nMessage-ID: <e1@example.org>\n" +
		"X-Mailer: testmailer\n\nthe text of the message that bounced\n"
	dsn, err := report.BuildDSN(report.DSN{
		Host: "vm", QueueID: "661BQ", Sender: "me@example.org",
		Arrival: time.Date(2026, 12, 3, 12, 10, 26, 0, time.UTC),
		Recipients: []report.Recipient{{
			Final: "r-later-x@test.invalid", Action: "failed", Status: "4.2.0",
			Diagnostic: "message expired after 1m0s in the queue: host 127.0.0.1 said: 451 4.2.0 later",
		}},
	}, strings.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	return string(dsn)
}

// A bounce is read with the message it returns: p shows the enclosed
// message's header (the fields p shows, by the same ignore and retain
// rules) and its text, after a note, and the delivery-status part as
// text; P shows every field of the enclosed message too.
func TestShowBounceEnclosed(t *testing.T) {
	h := newHome(t)
	plantMaildir(t, h.path("Maildir"), homepostBounce(t))
	out, stderr, code := h.mail(t, "p 1\nP 1\nx\n", "-N", "-f", "Maildir/")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	parts := strings.Split(out, "Message 1:\n")
	if len(parts) != 3 {
		t.Fatalf("p 1 and P 1: %q", out)
	}
	p, P := parts[1], parts[2]
	for _, want := range []string{
		"[-- #1.2 message/delivery-status --]\n",
		"Reporting-MTA: dns; vm\n",
		"Final-Recipient: rfc822; r-later-x@test.invalid\n",
		"[-- #1.3 message/rfc822 --]\nFrom: me@example.org\nTo: r-later-x@test.invalid, r-fine@test.invalid\nSubject: E1-expire\nDate: Thu, 03 Dec 2026 12:10:26 +0000\n\nthe text of the message that bounced\n",
	} {
		if !strings.Contains(p, want) {
			t.Errorf("p does not show %q:\n%s", want, p)
		}
	}
	if strings.Contains(p, "X-Mailer") || strings.Contains(p, "Message-ID: <e1") {
		t.Errorf("p shows the enclosed message's ignored fields:\n%s", p)
	}
	if !strings.Contains(P, "Message-ID: <e1@example.org>\nX-Mailer: testmailer\n\nthe text of the message that bounced\n") {
		t.Errorf("P does not show every field of the enclosed message:\n%s", P)
	}
	// retain: the enclosed message's fields follow it too.
	out, _, _ = h.mail(t, "retain subject\np 1\nx\n", "-N", "-f", "Maildir/")
	if !strings.Contains(out, "[-- #1.3 message/rfc822 --]\nSubject: E1-expire\n\nthe text") {
		t.Errorf("retain subject:\n%s", out)
	}
}

// A bounce from the corpus (Postfix's, CRLF as stored there) shows the
// returned message's header and text, and its delivery-status part;
// one that returns only the header (text/rfc822-headers) shows it as
// text.
func TestShowCorpusBounces(t *testing.T) {
	dir := filepath.Join(testenv.Root(), "..", "shared", "corpus", "messages")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Skipf("no corpus: %v", err)
		}
		return string(b)
	}
	cases := []struct {
		file string
		want []string
	}{
		{"mikel-mail-multi_address_bounce1.eml", []string{
			"[-- #1.2 message/delivery-status --]\nReporting-MTA: dns; lvmail01.LL.com\n",
			"[-- #1.3 message/rfc822 --]\nDate: Tue, 23 Feb 2010 22:16:14 -0800 (PST)\nFrom: Rahul Chaudhari <rahul.chaudhari@LL.com>\n",
			"Subject: Test of bounce email\n\nThis is just testing.\n",
		}},
		{"sisimai-lhost-sendmail-06.eml", []string{
			"message/delivery-status --]\n",
			"text/rfc822-headers --]\n",
		}},
	}
	for _, c := range cases {
		h := newHome(t)
		plantMaildir(t, h.path("Maildir"), read(c.file))
		out, stderr, code := h.mail(t, "p 1\nx\n", "-N", "-f", "Maildir/")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.file, code, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: p does not show %q:\n%s", c.file, w, out)
			}
		}
	}
}

// top counts the enclosed message's lines within its budget.
func TestTopBounceEnclosed(t *testing.T) {
	h := newHome(t)
	plantMaildir(t, h.path("Maildir"), homepostBounce(t))
	out, _, _ := h.mail(t, "set toplines=1000\ntop 1\nx\n", "-N", "-f", "Maildir/")
	if !strings.Contains(out, "[-- #1.3 message/rfc822 --]\nFrom: me@example.org\n") || !strings.Contains(out, "the text of the message that bounced\n") {
		t.Errorf("top with room for all:\n%s", out)
	}
	full := strings.Count(out, "\n")
	out, _, _ = h.mail(t, fmt.Sprintf("set toplines=%d\ntop 1\nx\n", 3), "-N", "-f", "Maildir/")
	if strings.Count(out, "\n") >= full || strings.Contains(out, "the text of the message") {
		t.Errorf("top 3 lines:\n%s", out)
	}
}

// nestedMessages is a message that encloses another, n deep, the last
// one text.
func nestedMessages(n int, wrap func(i int, inner string) string) string {
	msg := "From: deepest@example.org\nSubject: deepest\n\nthe deepest text\n"
	for i := n; i > 0; i-- {
		msg = wrap(i, msg)
	}
	return msg
}

// Messages enclosed 1000 deep, as a message/rfc822 body or as a part
// of a multipart at each level, are shown to maxDepth, and the rest is
// named with a note: not shown, not dropped unsaid, the display never
// held whole.
func TestEnclosedDepthBounded(t *testing.T) {
	bare := nestedMessages(1000, func(i int, inner string) string {
		return fmt.Sprintf("From: level%d@example.org\nSubject: level %d\nMIME-Version: 1.0\nContent-Type: message/rfc822\n\n%s", i, i, inner)
	})
	multi := nestedMessages(1000, func(i int, inner string) string {
		return fmt.Sprintf("From: level%d@example.org\nSubject: level %d\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\nContent-Type: text/plain\n\ntext %d\n--b%d\nContent-Type: message/rfc822\n\n%s\n--b%d--\n", i, i, i, i, i, i, inner, i)
	})
	for name, msg := range map[string]string{"bare": bare, "multipart": multi} {
		var out bytes.Buffer
		renderBody(&out, []byte(msg), func(string) bool { return true })
		s := out.String()
		if !strings.Contains(s, fmt.Sprintf("Subject: level %d\n", maxDepth/2)) {
			t.Errorf("%s: the outer levels are not shown: %.2000s", name, s)
		}
		if strings.Contains(s, "the deepest text") {
			t.Errorf("%s: shown past maxDepth", name)
		}
		if !strings.Contains(s, "nested more than") {
			t.Errorf("%s: no note where the display stops: %q", name, s[max(0, len(s)-2000):])
		}
		if len(s) > len(msg)*2 {
			t.Errorf("%s: %d bytes shown of a %d byte message", name, len(s), len(msg))
		}
	}
}

// afterMarker digests what is written to it after the first marker.
type afterMarker struct {
	marker []byte
	tail   []byte
	found  bool
	sum    hash.Hash
	head   bytes.Buffer
}

func (a *afterMarker) Write(p []byte) (int, error) {
	if a.found {
		return a.sum.Write(p)
	}
	if a.head.Len() < 1<<20 {
		a.head.Write(p)
	}
	a.tail = append(a.tail, p...)
	if i := bytes.Index(a.tail, a.marker); i >= 0 {
		a.found = true
		a.sum.Write(a.tail[i+len(a.marker):])
		a.tail = nil
	} else if k := len(a.tail) - len(a.marker); k > 0 {
		a.tail = append(a.tail[:0], a.tail[k:]...)
	}
	return len(p), nil
}

// A bounce that returns a 50 MB message, plain or multipart, is shown
// in memory that does not grow with it, the enclosed text as it is.
func TestReadEnclosedLargeInConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200 MB")
	}
	dir := t.TempDir()
	plain, multi, body := bigMessages(t, dir)
	h := newHome(t)
	md := h.path("Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	for i, p := range []string{plain, multi} {
		f, err := os.Create(filepath.Join(md, "new", fmt.Sprintf("170000000%d.M1P1.test", i)))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "From: MAILER-DAEMON@example.org\nSubject: bounce %d\nMIME-Version: 1.0\n"+
			"Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\n\n"+
			"--r\nContent-Type: text/plain\n\nnot delivered\n--r\nContent-Type: message/delivery-status\n\n"+
			"Reporting-MTA: dns; example.org\n\nFinal-Recipient: rfc822; x@example.net\nAction: failed\nStatus: 5.1.1\n"+
			"--r\nContent-Type: message/rfc822\n\n", i)
		src, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		fmt.Fprintf(f, "\n--r--\n")
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	run := func(script string, out io.Writer) {
		t.Helper()
		in := filepath.Join(dir, "script")
		if err := os.WriteFile(in, []byte(script+"\nx\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		rss := h.mailRSSTo(t, in, out, "-N", "-f", "Maildir/")
		t.Logf("%s: peak RSS %d MB", script, rss>>20)
		if rss > maxReadRSS {
			t.Errorf("%s of a bounce of a 50 MB message: peak RSS %d MB, want at most %d MB", script, rss>>20, maxReadRSS>>20)
		}
	}
	shown := &afterMarker{marker: []byte("[-- #1.3 message/rfc822 --]\nFrom: Big <big@example.org>\nTo: me@example.org\nSubject: big plain\nDate: Mon, 2 Mar 2026 10:00:00 +0000\n\n"), sum: sha256.New()}
	run("p 1", shown)
	var got [32]byte
	copy(got[:], shown.sum.Sum(nil))
	if !shown.found || got != body {
		t.Errorf("p 1 did not show the enclosed body as it is (marker found: %v): %.1000q", shown.found, shown.head.String())
	}
	var out bytes.Buffer
	run("p 2", &out)
	s := out.String()
	if !strings.Contains(s, "[-- #1.3 message/rfc822 --]\nFrom: Big <big@example.org>\nTo: me@example.org\nSubject: big multipart\n\n[-- #1.3.1 text/plain --]\ncafé crème brûlée, line of latin-1 text\n") ||
		!strings.Contains(s, "[-- #1.3.2 application/octet-stream, 4") || !strings.Contains(s, "Status: 5.1.1\n") {
		t.Errorf("p 2 shows %d bytes: %.600q ... %q", len(s), s, s[max(0, len(s)-200):])
	}
	out.Reset()
	run("set toplines=20\ntop 1", &out)
	if !strings.Contains(out.String(), "Subject: big plain\nDate: Mon, 2 Mar 2026 10:00:00 +0000\n\nFrom here") {
		t.Errorf("top: %q", out.String())
	}
}

// Messages and parts nested 30 deep, each with a header of most of a
// megabyte, are shown to maxDepth in bounded memory: a level holds
// only the fields the display reads of its header.
func TestReadDeepInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 55 MB")
	}
	fill := strings.Repeat("X-Fill: "+strings.Repeat("f", 70)+"\n", (900<<10)/79)
	msg := nestedMessages(30, func(i int, inner string) string {
		return fmt.Sprintf("From: l%d@example.org\nSubject: level %d\n%sMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n%sContent-Type: message/rfc822\n\n%s\n--b%d--\n", i, i, fill, i, i, fill, inner, i)
	})
	h := newHome(t)
	plantMaildir(t, h.path("Maildir"), msg)
	in := filepath.Join(t.TempDir(), "script")
	os.WriteFile(in, []byte("p 1\nx\n"), 0o600)
	var out bytes.Buffer
	rss := h.mailRSSTo(t, in, &out, "-N", "-f", "Maildir/")
	t.Logf("peak RSS %d MB", rss>>20)
	if rss > maxReadRSS {
		t.Errorf("p of parts nested 30 deep: peak RSS %d MB, want at most %d MB", rss>>20, maxReadRSS>>20)
	}
	if s := out.String(); !strings.Contains(s, "Subject: level 10\n") || !strings.Contains(s, fmt.Sprintf("nested more than %d deep, not shown --]\n", maxDepth)) {
		t.Errorf("p: %q", s[max(0, len(s)-600):])
	}
}

// The parts of a multipart/digest are messages unless they say
// otherwise, as mutt and s-nail read them.
func TestShowDigest(t *testing.T) {
	msg := "From: list@example.org\nSubject: digest\nMIME-Version: 1.0\nContent-Type: multipart/digest; boundary=d\n\n" +
		"--d\n\nFrom: a@example.org\nSubject: first\nX-Dropped: x\n\nfirst text\n" +
		"--d\nContent-Type: text/plain\n\nplain part\n--d--\n"
	var out bytes.Buffer
	renderBody(&out, []byte(msg), keepSome)
	want := "[-- #1.1 message/rfc822 --]\nFrom: a@example.org\nSubject: first\n\nfirst text\n[-- #1.2 text/plain --]\nplain part\n"
	if out.String() != want {
		t.Errorf("got %q\nwant %q", out.String(), want)
	}
}
