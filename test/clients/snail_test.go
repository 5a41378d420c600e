package clients

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// snail runs s-nail without any resource file, in v15 mode, never saving
// a dead.letter (s-nail runs as root with root's passwd HOME).
func (e *env) snail(stdin string, args ...string) (string, string) {
	e.t.Helper()
	c := e.command("s-nail", append([]string{"-:/", "-Sv15-compat", "-Snosave"}, args...)...)
	c.Env = append(c.Env, "COLUMNS=200", "TERM=dumb")
	return e.run(c, stdin)
}

// s-nail sends through homepost's sendmail (its "mta" variable), with a
// Cc and an attachment: the message arrives with s-nail's MIME structure
// and the attachment decodes to its bytes.
func TestSNailSends(t *testing.T) {
	t.Parallel()
	need(t, "s-nail")
	e := newEnv(t, "")
	att := e.writeFile("report.csv", "id;name\n1;Zoë\n")
	e.snail("Hello from s-nail.\nSecond line.\n", "-Smta="+bin("sendmail"),
		"-s", "s-nail test ✓", "-c", "postmaster", "-a", att, "root")
	e.deliver()
	msgs := e.maildir()
	// root and postmaster are both the user: one copy or two.
	if len(msgs) == 0 || len(msgs) > 2 {
		t.Fatalf("want a copy in ~/Maildir, got %d", len(msgs))
	}
	for _, m := range msgs {
		if m.header("Subject") != "s-nail test ✓" || m.header("To") != "root" || m.header("Cc") != "postmaster" {
			t.Errorf("headers:\n%s", m.rawHeader())
		}
		if !strings.HasPrefix(m.header("Content-Type"), "multipart/mixed") {
			t.Errorf("Content-Type %q", m.header("Content-Type"))
		}
		parts := e.parts(m)
		if len(parts) != 2 || parts[0] != "Hello from s-nail.\nSecond line.\n" || parts[1] != "id;name\n1;Zoë\n" {
			t.Errorf("parts %q", parts)
		}
	}
}

// parts decodes the leaf parts of a stored message (text in its charset)
// with Python's email package.
func (e *env) parts(m stored) []string {
	e.t.Helper()
	const script = `
import email, email.policy, json, sys
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
print(json.dumps([p.get_content() if p.get_content_maintype() == "text" else p.get_payload(decode=True).decode("utf-8")
                  for p in msg.walk() if not p.is_multipart()]))
`
	c := exec.Command("python3", "-c", script)
	c.Stdin = strings.NewReader(string(m.Raw))
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		e.t.Fatalf("python3: %v\n%s\nthe message:\n%s", err, stderr.String(), m.Raw)
	}
	var parts []string
	if err := json.Unmarshal(out, &parts); err != nil {
		e.t.Fatal(err)
	}
	return parts
}

// s-nail reads what homepost stored, in a Maildir and in an mbox: the
// header summary lists every message with its decoded subject, and the
// messages print with their bodies.
func TestSNailReadsStore(t *testing.T) {
	need(t, "s-nail")
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
			send("From: =?UTF-8?Q?Zo=C3=AB?= <zoe@example.org>\nSubject: =?UTF-8?Q?caf=C3=A9_au_lait?=\n\nsecond body\n")
			send("From: Bob <bob@example.org>\nSubject: from line\n\nFrom the start of the line\nthird body\n")
			e.deliver()

			out, _ := e.snail("", "-R", "-Sheadline=%>%a%m|%f|%s", "-H", "-f", box)
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if len(lines) != 3 {
				t.Fatalf("s-nail lists %d messages, want 3:\n%s", len(lines), out)
			}
			subjects := map[string]bool{}
			for _, l := range lines {
				f := strings.Split(l, "|")
				subjects[strings.TrimSpace(f[len(f)-1])] = true
			}
			for _, want := range []string{"plain one", "café au lait", "from line"} {
				if !subjects[want] {
					t.Errorf("s-nail's summary lacks %q:\n%s", want, out)
				}
			}
			if !regexp.MustCompile(`(?m)^.*N +\d+\|`).MatchString(out) {
				t.Errorf("s-nail does not show the messages as new:\n%s", out)
			}
			// -e: "is there mail?" exits 0.
			e.snail("", "-R", "-e", "-f", box)
			// Print every message in batch mode.
			out, _ = e.snail("type *\nxit\n", "-#", "-R", "-f", box)
			for _, want := range []string{"first body", "second body", "From the start of the line\nthird body", "Subject: plain one"} {
				if !strings.Contains(out, want) {
					t.Errorf("s-nail's type * lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
