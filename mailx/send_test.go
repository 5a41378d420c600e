package mailx

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestSendBasic(t *testing.T) {
	h := newHome(t)
	_, stderr, code := h.mail(t, "Hello there.\n~s not an escape from a pipe\n.\nstill body\n",
		"-s", "Greetings", "-c", "cc@example.org", "-b", "hidden@example.org", "-r", "Me <me@example.org>",
		"root", "bob@example.org")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	q := h.only(t)
	if q.sender != "me@example.org" {
		t.Errorf("envelope sender %q", q.sender)
	}
	want := []string{"root", "bob@example.org", "cc@example.org", "hidden@example.org"}
	if !slices.Equal(q.rcpts, want) {
		t.Errorf("recipients %q, want %q", q.rcpts, want)
	}
	hd := q.msg.Header
	if got := hd.Get("Subject"); got != "Greetings" {
		t.Errorf("Subject %q", got)
	}
	if got := hd.Get("To"); got != "root, bob@example.org" {
		t.Errorf("To %q", got)
	}
	if got := hd.Get("Cc"); got != "cc@example.org" {
		t.Errorf("Cc %q", got)
	}
	if strings.Contains(strings.ToLower(q.raw), "bcc") || strings.Contains(q.raw, "hidden@") {
		t.Errorf("the Bcc recipient leaks into the message:\n%s", q.raw)
	}
	if a, err := hd.AddressList("From"); err != nil || len(a) != 1 || a[0].Address != "me@example.org" || a[0].Name != "Me" {
		t.Errorf("From %q (%v)", hd.Get("From"), err)
	}
	for _, f := range []string{"Date", "Message-Id"} {
		if hd.Get(f) == "" {
			t.Errorf("no %s field", f)
		}
	}
	wantBody := "Hello there.\n~s not an escape from a pipe\n.\nstill body\n"
	if q.body != wantBody {
		t.Errorf("body %q, want %q", q.body, wantBody)
	}
}

func TestSendGluedSubjectAndOptionsAfterAddress(t *testing.T) {
	h := newHome(t)
	if _, e, code := h.mail(t, "x\n", `-s"Glued subject"`, "root", "-c", "c@example.org"); code != 0 {
		t.Fatal(e)
	}
	q := h.only(t)
	if got := q.msg.Header.Get("Subject"); got != `"Glued subject"` && got != "Glued subject" {
		t.Errorf("Subject %q", got)
	}
	if !slices.Contains(q.rcpts, "c@example.org") {
		t.Errorf("recipients %q lack the -c given after the address", q.rcpts)
	}
}

func TestSendHeaderInjection(t *testing.T) {
	h := newHome(t)
	_, e, code := h.mail(t, "body\n", "-s", "Hi\nBcc: victim@example.org\r\nX-Evil: 1", "root")
	if code != 0 {
		t.Fatal(e)
	}
	q := h.only(t)
	if q.msg.Header.Get("X-Evil") != "" || q.msg.Header.Get("Bcc") != "" {
		t.Fatalf("a newline in the subject started a header field:\n%s", q.raw)
	}
	if slices.Contains(q.rcpts, "victim@example.org") {
		t.Fatalf("injected recipient reached the envelope: %q", q.rcpts)
	}
	if got := q.msg.Header.Get("Subject"); !strings.HasPrefix(got, "Hi Bcc: victim") {
		t.Errorf("Subject %q", got)
	}
}

func TestSendAddressWithNewlineIsNotAHeader(t *testing.T) {
	h := newHome(t)
	h.mail(t, "body\n", "-s", "s", "root\nX-Evil: 1")
	for _, q := range h.queue(t) {
		if q.msg.Header.Get("X-Evil") != "" {
			t.Fatalf("a newline in an address started a header field:\n%s", q.raw)
		}
	}
}

func TestSendNonASCIISubject(t *testing.T) {
	h := newHome(t)
	if _, e, code := h.mail(t, "Grüße aus Köln\n", "-s", "Grüße, ça va? 日本", "root"); code != 0 {
		t.Fatal(e)
	}
	q := h.only(t)
	raw := q.msg.Header.Get("Subject")
	if !strings.Contains(raw, "=?utf-8?") {
		t.Errorf("Subject not RFC 2047 encoded: %q", raw)
	}
	dec, err := new(mime.WordDecoder).DecodeHeader(raw)
	if err != nil || dec != "Grüße, ça va? 日本" {
		t.Errorf("Subject decodes to %q (%v)", dec, err)
	}
	for _, c := range []byte(strings.SplitN(q.raw, "\n\n", 2)[0]) {
		if c >= 0x80 {
			t.Fatalf("8-bit byte in the header:\n%s", q.raw)
		}
	}
	if ct := q.msg.Header.Get("Content-Type"); !strings.Contains(ct, "utf-8") {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestSendAttachments(t *testing.T) {
	h := newHome(t)
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0, 1, 2, 255}, 100)...)
	os.WriteFile(h.path("pic.png"), png, 0o600)
	os.WriteFile(h.path("notes"), []byte("plain notes\n"), 0o600)
	if _, e, code := h.mail(t, "see attached\n", "-s", "files", "-a", h.path("pic.png"), "-a", h.path("notes"), "root"); code != 0 {
		t.Fatal(e)
	}
	q := h.only(t)
	mt, params, err := mime.ParseMediaType(q.msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q (%v)", q.msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(strings.NewReader(q.body), params["boundary"])
	var types, names []string
	var datas [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		names = append(names, p.FileName())
		b, _ := io.ReadAll(p)
		if p.Header.Get("Content-Transfer-Encoding") == "base64" {
			b, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(strings.ReplaceAll(string(b), "\r", ""), "\n", ""))
			if err != nil {
				t.Fatal(err)
			}
		}
		datas = append(datas, b)
	}
	if !slices.Equal(types, []string{"text/plain", "image/png", "text/plain"}) {
		t.Errorf("part types %q", types)
	}
	if len(names) == 3 && (names[1] != "pic.png" || names[2] != "notes") {
		t.Errorf("file names %q", names)
	}
	if len(datas) == 3 && (!bytes.Equal(datas[1], png) || string(datas[2]) != "plain notes\n") {
		t.Errorf("attachment contents differ")
	}
}

func TestSendEmptyBodyWithE(t *testing.T) {
	h := newHome(t)
	if _, e, code := h.mail(t, "", "-E", "-s", "cron output", "root"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if q := h.queue(t); len(q) != 0 {
		t.Fatalf("-E with an empty body queued %d messages", len(q))
	}
	if _, e, code := h.mail(t, "some output\n", "-E", "-s", "cron output", "root"); code != 0 {
		t.Fatal(e)
	}
	h.only(t)
	// Without -E an empty message is sent.
	h2 := newHome(t)
	h2.mail(t, "", "-s", "empty", "root")
	h2.only(t)
}

func TestSendMailrcAliasAndRecord(t *testing.T) {
	h := newHome(t)
	rc := "# my settings\nset record=+sent\nalias team alice@example.org bob@example.org\nalias all team carol@example.org\n"
	os.WriteFile(h.path(".mailrc"), []byte(rc), 0o600)
	if _, e, code := h.mail(t, "hi team\n", "-s", "meeting", "all"); code != 0 {
		t.Fatal(e)
	}
	q := h.only(t)
	want := []string{"alice@example.org", "bob@example.org", "carol@example.org"}
	if !slices.Equal(q.rcpts, want) {
		t.Errorf("recipients %q, want %q", q.rcpts, want)
	}
	out := python(t, `
import mailbox, sys
for m in mailbox.mbox(sys.argv[1]):
    print(m['Subject'], m.get_payload().strip())
`, h.path("mail/sent"))
	if strings.TrimSpace(out) != "meeting hi team" {
		t.Errorf("record file holds %q", out)
	}
}

func TestMailrcErrorNamesLine(t *testing.T) {
	h := newHome(t)
	os.WriteFile(h.path(".mailrc"), []byte("set hold\nbogus command\n"), 0o600)
	_, stderr, code := h.mail(t, "x\n", "root")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stderr, ".mailrc:2:") {
		t.Errorf("stderr %q does not name .mailrc:2", stderr)
	}
}

func TestRefusedAndUsage(t *testing.T) {
	h := newHome(t)
	_, stderr, code := h.mail(t, "", "-u", "alice")
	if code != exUsage || !strings.Contains(stderr, "-u alice") {
		t.Errorf("-u: exit %d, %q", code, stderr)
	}
	if _, _, code := h.mail(t, "", "-s", "subject only"); code != exUsage {
		t.Errorf("-s without recipients: exit %d", code)
	}
	if _, _, code := h.mail(t, "", "-Z", "root"); code != exUsage {
		t.Errorf("unknown option: exit %d", code)
	}
	out, _, code := h.mail(t, "", "--help")
	if code != 0 || !strings.Contains(out, "usage: mail") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
}

func TestCheckMailExitStatus(t *testing.T) {
	h := newHome(t)
	if out, _, code := h.mail(t, "", "-e"); code != 1 || out != "" {
		t.Errorf("-e on no mail: exit %d, output %q", code, out)
	}
	deliverFixtures(t, h.path("Maildir"), 1)
	if out, _, code := h.mail(t, "", "-e"); code != 0 || out != "" {
		t.Errorf("-e with mail: exit %d, output %q", code, out)
	}
}

// TestSendDeliverRead sends with mail, lets a one-shot agent deliver,
// and reads the message back with mail: the whole local loop.
func TestSendDeliverRead(t *testing.T) {
	h := newHome(t)
	if _, e, code := h.mail(t, "round trip body\n", "-s", "Round trip ✓", "root"); code != 0 {
		t.Fatal(e)
	}
	agent := exec.Command(binary(t), "agent", "--once")
	agent.Env = h.env
	if out, err := agent.CombinedOutput(); err != nil {
		t.Fatalf("agent --once: %v\n%s", err, out)
	}
	out, _, code := h.mail(t, "", "-H")
	if code != 0 || !strings.Contains(out, "Round trip ✓") || !strings.HasPrefix(out, ">N  1 ") {
		t.Fatalf("mail -H after delivery: exit %d\n%s", code, out)
	}
	out, _, _ = h.mail(t, "p 1\nq\n")
	if !strings.Contains(out, "Subject: Round trip ✓\n") || !strings.Contains(out, "\nround trip body\n") {
		t.Errorf("reading the delivered message:\n%s", out)
	}
}

// TestSendmailVariable hands the message to the program named by the
// sendmail variable instead of the outbox.
func TestSendmailVariable(t *testing.T) {
	h := newHome(t)
	script := h.path("fake-sendmail")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" > \"$HOME/args\"\ncat > \"$HOME/message\"\n"), 0o700)
	os.WriteFile(h.path(".mailrc"), []byte("set sendmail="+script+"\n"), 0o600)
	if _, e, code := h.mail(t, "via program\n", "-s", "prog", "-r", "me@example.org", "root", "-b", "b@example.org"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	args, _ := os.ReadFile(h.path("args"))
	if string(args) != "-i -f me@example.org -- root b@example.org\n" {
		t.Errorf("arguments %q", args)
	}
	msg, _ := os.ReadFile(h.path("message"))
	if !strings.Contains(string(msg), "Subject: prog\n") || !strings.HasSuffix(string(msg), "\n\nvia program\n") || strings.Contains(string(msg), "b@example.org") {
		t.Errorf("message:\n%s", msg)
	}
	if q := h.queue(t); len(q) != 0 {
		t.Errorf("the outbox was used too")
	}
}

// TestSendExtract is -t: recipients and subject come from the message
// read from standard input; Bcc is removed.
func TestSendExtract(t *testing.T) {
	h := newHome(t)
	in := "To: a@example.org\nBcc: hidden@example.org\nSubject: from the header\n\nthe body\n"
	if _, e, code := h.mail(t, in, "-t", "-c", "c@example.org"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	q := h.only(t)
	if !slices.Equal(q.rcpts, []string{"c@example.org", "a@example.org", "hidden@example.org"}) {
		t.Errorf("recipients %q", q.rcpts)
	}
	if q.msg.Header.Get("Subject") != "from the header" || q.msg.Header.Get("Cc") != "c@example.org" || q.body != "the body\n" {
		t.Errorf("message:\n%s", q.raw)
	}
	if strings.Contains(q.raw, "hidden@") {
		t.Errorf("Bcc left in the message:\n%s", q.raw)
	}
}

// The from variable is -r's default, as in s-nail: scripts pass
// -S from=ADDR (or set it in .mailrc); -r wins over it.
func TestFromVariable(t *testing.T) {
	h := newHome(t)
	if _, stderr, code := h.mail(t, "body\n", "-S", "from=Me <me@example.org>", "-s", "v", "root"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, stderr, code := h.mail(t, "body\n", "-S", "from=me@example.org", "-r", "you@example.org", "-s", "r", "root"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, q := range h.queue(t) {
		want := "me@example.org"
		if q.msg.Header.Get("Subject") == "r" {
			want = "you@example.org"
		}
		if q.sender != want || !strings.Contains(q.msg.Header.Get("From"), want) {
			t.Errorf("%s: sender %q, From %q, want %s", q.msg.Header.Get("Subject"), q.sender, q.msg.Header.Get("From"), want)
		}
	}
}

// NAME gives a generated From its full name, as it does through a mailx
// that hands the message to sendmail; -r's own name wins.
func TestSendNameVariable(t *testing.T) {
	h := newHome(t)
	h.env = append(h.env, "NAME=Env Name")
	if _, stderr, code := h.mail(t, "x\n", "-s", "named", "root"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	q := h.only(t)
	if a, err := q.msg.Header.AddressList("From"); err != nil || len(a) != 1 || a[0].Name != "Env Name" {
		t.Errorf("From %q (%v)", q.msg.Header.Get("From"), err)
	}
}

// The options of GNU mailutils' mail that scripts pass: -A FILE and
// --attach=FILE (always a file), --content-type for the attachments
// after it, --subject, --append (a header line), -M and --mime. Each was
// refused (exit 64) and the message with it.
func TestSendMailutilsOptions(t *testing.T) {
	h := newHome(t)
	data := []byte("<b>report</b>\n")
	os.WriteFile(h.path("report.html"), data, 0o600)
	os.WriteFile(h.path("raw.bin"), []byte{0, 1, 2, 3}, 0o600)
	if _, e, code := h.mail(t, "body\n", "-M", "--subject=nightly", "--append=X-Job: backup", "--content-type=text/html", "-A", h.path("report.html"), "--mime", "--content-type", "application/x-raw", "--attach="+h.path("raw.bin"), "root"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	q := h.only(t)
	if s := q.msg.Header.Get("Subject"); s != "nightly" {
		t.Errorf("Subject %q", s)
	}
	if x := q.msg.Header.Get("X-Job"); x != "backup" {
		t.Errorf("X-Job %q", x)
	}
	_, params, err := mime.ParseMediaType(q.msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(strings.NewReader(q.body), params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct+" "+p.FileName())
	}
	if want := []string{"text/plain ", "text/html report.html", "application/x-raw raw.bin"}; !slices.Equal(types, want) {
		t.Errorf("parts %q, want %q", types, want)
	}
	// -A names a file, always: one that is not there is an error.
	if _, _, code := h.mail(t, "body\n", "-A", "X-Not: a file", "root"); code == 0 {
		t.Error("-A with no such file: exit 0")
	}
}

// An address that is not UTF-8 (Latin-1 typed where the terminal is not
// UTF-8) is refused (exit 65, the message kept in dead.letter), as
// sendmail refuses it: it went out with U+FFFD in place of its bytes, to
// an address no one has, and bounced. A display name that is not UTF-8
// is header text: its address is a recipient, as before.
func TestSendInvalidUTF8Address(t *testing.T) {
	h := newHome(t)
	for _, args := range [][]string{
		{"\xff\xfe@test.invalid"},
		{"-c", "a@example.org, c\xe9@example.org", "root"},
		{"-b", "J\xf6rg <j\xf6rg@example.org>", "root"},
		{"-r", "j\xf6rg@example.org", "root"},
	} {
		_, stderr, code := h.mail(t, "body\n", append([]string{"-s", "x"}, args...)...)
		if code != exDataErr || !strings.Contains(stderr, "not valid UTF-8") || !strings.Contains(stderr, `\x`) {
			t.Errorf("mail %q: exit %d, %q; want %d and the address escaped", args, code, stderr, exDataErr)
		}
	}
	if q := h.queue(t); len(q) != 0 {
		t.Errorf("queued %d messages", len(q))
	}
	if _, err := os.Stat(h.path("dead.letter")); err != nil {
		t.Errorf("no dead.letter: %v", err)
	}
	if _, e, code := h.mail(t, "body\n", "-s", "x", "J\xf6rg <root>"); code != 0 {
		t.Fatalf("display name not UTF-8: exit %d, %s", code, e)
	}
	if q := h.only(t); len(q.rcpts) != 1 || q.rcpts[0] != "root" {
		t.Errorf("recipients %q", q.rcpts)
	}
}
