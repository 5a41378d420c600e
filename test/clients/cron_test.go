package clients

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// cron mails a job's output with exactly this command line, in the job's
// minimal environment and from "/", and writes exactly this form of
// message. It arrives with every header cron wrote, in cron's order, and
// its 8-bit body, byte for byte.
func TestCronMailerInvocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	user := testenv.Login(t)
	home := "/root"
	if user != "root" {
		home = "/home/" + user
	}
	header := "From: " + user + " (Cron Daemon)\n" +
		"To: " + user + "\n" +
		"Subject: Cron <" + user + "@testhost> /usr/local/bin/backup --quiet\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: text/plain; charset=UTF-8\n" +
		"Content-Transfer-Encoding: 8bit\n" +
		"X-Cron-Env: <SHELL=/bin/sh>\n" +
		"X-Cron-Env: <HOME=" + home + ">\n" +
		"X-Cron-Env: <PATH=/usr/bin:/bin>\n" +
		"X-Cron-Env: <LOGNAME=" + user + ">\n"
	body := "backup: 3 files skipped — naïve check ✓\n\tdetail with a tab\n.\nFrom here on: nothing\n"
	c := exec.Command(bin("sendmail"), "-FCronDaemon", "-i", "-B8BITMIME", "-oem", user)
	c.Env = []string{"HOME=" + e.home, "LOGNAME=" + user, "SHELL=/bin/sh", "PATH=/usr/bin:/bin"}
	c.Dir = "/"
	e.run(c, header+"\n"+body)
	e.deliver()

	msgs := e.maildir()
	if len(msgs) != 1 {
		t.Fatalf("want 1 message, got %d", len(msgs))
	}
	m := msgs[0]
	raw := m.rawHeader()
	if !strings.Contains(raw, "\nFrom: "+user+" (Cron Daemon)\n") {
		t.Errorf("cron's From is not kept byte for byte:\n%s", raw)
	}
	// Every line cron wrote is there, in cron's order.
	var cronLines []string
	for _, l := range strings.Split(raw, "\n") {
		if strings.Contains(header, l+"\n") && l != "" {
			cronLines = append(cronLines, l)
		}
	}
	if got := strings.Join(cronLines, "\n") + "\n"; got != header {
		t.Errorf("cron's header lines changed or moved:\n%s\nwant, in this order:\n%s", raw, header)
	}
	if m.header("Date") == "" || m.header("Message-ID") == "" {
		t.Errorf("Date or Message-ID not completed:\n%s", raw)
	}
	if string(m.body()) != body {
		t.Errorf("body %q, want %q", m.body(), body)
	}
}

// cron's mailer with a MAILTO homepost cannot read (a typo, or a list
// without commas): with cron's -oem the output comes back to the user
// by mail, with the error in X-Homepost-Error, as sendmail mails errors
// back. It was refused with exit 65, and cron dropped the output.
func TestCronBadMailto(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	user := testenv.Login(t)
	msg := "From: " + user + " (Cron Daemon)\nTo: bad@@x\nSubject: Cron job\n\noutput that must not vanish\n"
	c := exec.Command(bin("sendmail"), "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "bad@@x")
	c.Env = []string{"HOME=" + e.home, "LOGNAME=" + user, "PATH=/usr/bin:/bin"}
	_, stderr := e.run(c, msg)
	if !strings.Contains(stderr, `bad recipient address "bad@@x"`) {
		t.Errorf("stderr does not name the bad address: %q", stderr)
	}
	e.deliver()
	msgs := e.maildir()
	if len(msgs) != 1 {
		t.Fatalf("want 1 message, got %d", len(msgs))
	}
	if h := msgs[0].header("X-Homepost-Error"); !strings.Contains(h, "bad@@x") || string(msgs[0].body()) != "output that must not vanish\n" {
		t.Errorf("X-Homepost-Error %q, body %q", h, msgs[0].body())
	}
}

// The classic "mail -s subject root < file" through homepost's own mail
// link, delivered by a running agent; with -E an empty body sends
// nothing.
func TestMailLinkFromFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	e.startAgent()
	report := "Disk usage report\n/dev/sda1  91%  — nearly full\n.\nend of report\n"
	file := e.writeFile("report.txt", report)
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	c := e.command(bin("mail"), "-s", "disk report", "root")
	c.Stdin = in
	c.Dir = "/"
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("mail -s: %v\n%s", err, out)
	}
	c = e.command(bin("mail"), "-E", "-s", "only if not empty", "root")
	c.Dir = "/"
	if out, err := c.CombinedOutput(); err != nil { // stdin is /dev/null
		t.Fatalf("mail -E with an empty body: %v\n%s", err, out)
	}
	waitUntil(t, "the running agent to empty the outbox", func() bool {
		return len(testenv.Files(e.path("Maildir", "new"))) != 0 &&
			len(testenv.Files(e.path(".local", "state", "homepost", "outbox", "new"))) == 0 &&
			len(testenv.Files(e.path(".local", "state", "homepost", "outbox", "cur"))) == 0
	})
	msgs := e.maildir()
	if len(msgs) != 1 {
		t.Fatalf("want 1 message (mail -E with an empty body sends nothing), got %d", len(msgs))
	}
	m := msgs[0]
	if m.header("Subject") != "disk report" || m.header("To") != "root" {
		t.Errorf("headers:\n%s", m.rawHeader())
	}
	// mail may encode the 8-bit text (MIME); decoded, it is the file.
	if parts := e.parts(m); len(parts) != 1 || parts[0] != report {
		t.Errorf("decoded body %q, want the file %q\n%s", parts, report, m.Raw)
	}
}
