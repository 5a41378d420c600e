package clients

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// mutt reads what homepost stored, in a Maildir and in an mbox, as a
// person does: full screen (inside tmux), read only. The index lists
// every message with its decoded subject, and Enter shows the first one.
func TestMuttReadsStore(t *testing.T) {
	need(t, "mutt", "tmux")
	for _, kind := range []string{"maildir", "mbox"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "")
			box := e.path("Maildir")
			if kind == "mbox" {
				box = e.path("mbox")
				e.writeConfig(baseConfig(e.home) + fmt.Sprintf("store = %q\n", "mbox:"+box))
			}
			send := func(msg string) {
				t.Helper()
				e.run(e.command(bin("sendmail"), "-i", "root"), msg)
			}
			send("From: Alice <alice@example.org>\nSubject: plain one\n\nfirst body\n")
			send("From: =?UTF-8?Q?Zo=C3=AB?= <zoe@example.org>\nSubject: =?UTF-8?Q?caf=C3=A9_au_lait?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\nsecond body: crème brûlée\n")
			send("From: Bob <bob@example.org>\nSubject: from line\n\nFrom the start of the line\nthird body\n")
			e.deliver()

			settings := `set folder=` + shellQuote(e.home) + ` sort=subject index_format="%4C|%-12.12F|%s" pager_index_lines=0 mark_old=no`
			s := e.startScreen("mutt -n -F /dev/null -R -e " + shellQuote(settings) + " -f " + shellQuote(box))
			scr := s.waitFor("Msgs:3", "|plain one", "|from line", "|café au lait")
			for _, who := range []string{"Alice", "Zoë", "Bob"} {
				if !strings.Contains(scr, "|"+who) {
					t.Errorf("mutt's index lacks the sender %s:\n%s", who, scr)
				}
			}
			// Sorted by subject, the first is "café au lait".
			s.keys("Enter")
			s.waitFor("second body: crème brûlée", "Subject: café au lait")
			s.keys("q", "q")
			s.waitFor("[exited]")
		})
	}
}

// muttSend sends in mutt's batch mode (the body on stdin) through
// homepost's sendmail; settings are more mutt "set" commands.
func (e *env) muttSend(body, settings string, args ...string) {
	e.t.Helper()
	set := fmt.Sprintf("set sendmail=%q", bin("sendmail")+" -oem -oi")
	if settings != "" {
		set += "; " + settings
	}
	e.run(e.command("mutt", append([]string{"-F", "/dev/null", "-e", set}, args...)...), body)
}

// mutt sends in batch mode, with an attachment, through homepost's
// sendmail: the message arrives with mutt's MIME structure.
func TestMuttSends(t *testing.T) {
	t.Parallel()
	need(t, "mutt")
	e := newEnv(t, "")
	att := e.writeFile("notes.txt", "attached: ünïcode\n")
	e.muttSend("Body written by mutt.\n", "set hostname=testhost.example",
		"-s", "mutt batch", "-a", att, "--", "root")
	e.deliver()
	msgs := e.maildir()
	if len(msgs) != 1 {
		t.Fatalf("want 1 message, got %d", len(msgs))
	}
	m := msgs[0]
	if m.header("Subject") != "mutt batch" || !strings.Contains(m.header("To"), "root@testhost.example") {
		t.Errorf("headers:\n%s", m.rawHeader())
	}
	if !strings.HasPrefix(m.header("Content-Type"), "multipart/mixed") {
		t.Errorf("Content-Type %q", m.header("Content-Type"))
	}
	if parts := e.parts(m); len(parts) != 2 || parts[0] != "Body written by mutt.\n" || parts[1] != "attached: ünïcode\n" {
		t.Errorf("parts %q", parts)
	}
}

// mutt with its own defaults addresses "root" as root@<mutt's hostname>
// (on Debian the name in /etc/mailname). homepost with its own defaults
// must take that for local mail, not queue it for a smarthost.
func TestMuttDefaultAddressIsLocal(t *testing.T) {
	t.Parallel()
	need(t, "mutt")
	e := newEnv(t, "")
	// The machine's own defaults: no hostname in the config.
	e.writeConfig(strings.Replace(baseConfig(e.home), "hostname = \"testhost.example\"\n", "", 1) +
		fmt.Sprintf("store = %q\n", e.path("Maildir")+"/"))
	q, _ := e.run(e.command("mutt", "-F", "/dev/null", "-Q", "hostname"), "")
	muttHost := strings.Trim(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(q), "hostname=")), `"`)
	e.muttSend("Sent with mutt's defaults.\n", "", "-s", "mutt defaults", "root")
	_, log := e.run(e.command(bin("homepost"), "agent", "--once"), "")
	if got := testenv.Files(e.path("Maildir", "new")); len(got) != 1 {
		mailq, _, _ := e.try(e.command(bin("mailq")), "")
		resolve, resolveErr, _ := e.try(e.command(bin("homepost"), "resolve", "root@"+muttHost), "")
		t.Fatalf("mutt sent to root@%s (its hostname); want the mail in ~/Maildir, got %d messages there\nagent log:\n%s\nmailq:\n%s\nhomepost resolve root@%s:\n%s%s",
			muttHost, len(got), log, mailq, muttHost, resolve, resolveErr)
	}
	m := e.maildir()[0]
	if m.header("Subject") != "mutt defaults" {
		t.Errorf("headers:\n%s", m.rawHeader())
	}
}

// mutt attaches a large binary file (base64, some 11 MB on the wire):
// it arrives and decodes to the same bytes.
func TestMuttSendsLargeAttachment(t *testing.T) {
	t.Parallel()
	need(t, "mutt")
	e := newEnv(t, "")
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i*7919 + i>>9 + i>>17)
	}
	att := e.path("backup.bin")
	if err := os.WriteFile(att, data, 0o600); err != nil {
		t.Fatal(err)
	}
	e.muttSend("The backup is attached.\n", "set hostname=testhost.example", "-s", "large attachment", "-a", att, "--", "root")
	e.deliver()
	files := testenv.Files(e.path("Maildir", "new"))
	if len(files) != 1 {
		t.Fatalf("want 1 message, got %v", files)
	}
	need(t, "python3")
	const script = `
import email, email.policy, hashlib, sys
with open(sys.argv[1], "rb") as f:
    msg = email.message_from_binary_file(f, policy=email.policy.default)
for p in msg.walk():
    if p.get_filename() == "backup.bin":
        print(hashlib.sha256(p.get_payload(decode=True)).hexdigest())
`
	out, err := exec.Command("python3", "-c", script, e.path("Maildir", "new", files[0])).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), fmt.Sprintf("%x", sha256.Sum256(data)); got != want {
		t.Errorf("the attachment's sha256 is %q, want %s", got, want)
	}
}
