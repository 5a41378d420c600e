package clients

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// subjects lists the decoded subjects of msgs, sorted.
func subjects(msgs []stored) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.header("Subject"))
	}
	sort.Strings(out)
	return out
}

// mutt keeps ~/Maildir open while the running agent delivers: the new
// message shows up in mutt's index; mutt marks what was read (moving it
// to cur/ with flag S) and the agent's next delivery lands beside it.
func TestMuttWithRunningAgentMaildir(t *testing.T) {
	t.Parallel()
	need(t, "mutt", "tmux")
	e := newEnv(t, "")
	e.startAgent()
	e.sendmail("From: a@example.org\nSubject: before mutt\n\nfirst\n", "root")
	waitUntil(t, "the first delivery", func() bool { return len(testenv.Files(e.path("Maildir", "new"))) == 1 })

	settings := `set folder=` + shellQuote(e.home) + ` mail_check=1 timeout=1 sort=date-received index_format="%4C|%Z|%s" pager_index_lines=0`
	s := e.startScreen("mutt -n -F /dev/null -e " + shellQuote(settings) + " -f " + shellQuote(e.path("Maildir")))
	s.waitFor("|before mutt", "Msgs:1")
	e.sendmail("From: b@example.org\nSubject: while mutt runs\n\nsecond body\n", "root")
	s.waitFor("|while mutt runs", "Msgs:2")
	// Read the new one (the last), back to the index, quit.
	s.keys("End", "Enter")
	s.waitFor("second body")
	s.keys("q")
	s.waitFor("|before mutt")
	s.keys("q")
	s.waitFor("[exited]")

	e.sendmail("From: c@example.org\nSubject: after mutt\n\nthird\n", "root")
	waitUntil(t, "the third delivery", func() bool { return len(testenv.Files(e.path("Maildir", "new"))) == 1 })
	msgs := e.maildir()
	if got := subjects(msgs); strings.Join(got, ",") != "after mutt,before mutt,while mutt runs" {
		t.Fatalf("subjects %q", got)
	}
	for _, m := range msgs {
		subj := m.header("Subject")
		switch {
		case subj == "while mutt runs" && (m.Subdir != "cur" || !strings.Contains(m.Flags, "S")):
			t.Errorf("%q: mutt read it, but it is in %s/ with flags %q", subj, m.Subdir, m.Flags)
		case subj == "after mutt" && (m.Subdir != "new" || m.Flags != ""):
			t.Errorf("%q: in %s/ with flags %q, want new/ without flags", subj, m.Subdir, m.Flags)
		}
	}
}

// mutt keeps the mbox store open, deletes a message, and the running
// agent appends a new one before mutt writes the mbox back: mutt sees
// the new message (homepost's locking and From_ lines are what mutt
// expects) and after mutt's sync the mbox holds exactly the right
// messages.
func TestMuttWithRunningAgentMbox(t *testing.T) {
	t.Parallel()
	need(t, "mutt", "tmux")
	e := newEnv(t, "")
	box := e.path("mbox")
	e.writeConfig(baseConfig(e.home) + fmt.Sprintf("store = %q\n", "mbox:"+box))
	e.startAgent()
	e.sendmail("From: a@example.org\nSubject: one\n\nFrom the first body\n", "root")
	e.sendmail("From: b@example.org\nSubject: two\n\nsecond\n", "root")
	waitUntil(t, "two deliveries", func() bool {
		b, _ := os.ReadFile(box)
		return strings.Count(string(b), "\nSubject: ") == 2
	})

	settings := `set folder=` + shellQuote(e.home) + ` mail_check=1 timeout=1 sort=date-received index_format="%4C|%Z|%s" mbox_type=mbox delete=yes`
	s := e.startScreen("mutt -n -F /dev/null -e " + shellQuote(settings) + " -f " + shellQuote(box))
	s.waitFor("|one", "|two", "Msgs:2")
	s.keys("Home", "d") // delete "one"
	s.waitFor("Del:1")
	e.sendmail("From: c@example.org\nSubject: three\n\nthird\n", "root")
	s.waitFor("|three", "Msgs:3")
	s.keys("$") // write the mbox back
	s.waitFor("Msgs:2")
	s.keys("q")
	s.waitFor("[exited]")

	msgs := e.readStore("mbox", box)
	if got := subjects(msgs); strings.Join(got, ",") != "three,two" {
		t.Fatalf("after mutt's sync the mbox holds %q, want three and two", got)
	}
}

// s-nail deletes a message from the mbox store and writes the mbox back;
// homepost's next deliveries append to what s-nail wrote, and every
// reader sees the right messages.
func TestSNailRewritesMboxThenHomepostAppends(t *testing.T) {
	t.Parallel()
	need(t, "s-nail")
	e := newEnv(t, "")
	box := e.path("mbox")
	e.writeConfig(baseConfig(e.home) + fmt.Sprintf("store = %q\n", "mbox:"+box))
	e.sendmail("From: a@example.org\nSubject: one\n\nfirst\n", "root")
	e.sendmail("From: b@example.org\nSubject: two\n\nFrom the second body\n", "root")
	e.deliver()
	out, _ := e.snail("", "-R", "-Sheadline=%m|%s", "-H", "-f", box)
	// Delete the message with subject "one", wherever s-nail lists it.
	num := ""
	for _, l := range strings.Split(out, "\n") {
		if n, subj, ok := strings.Cut(l, "|"); ok && strings.TrimSpace(subj) == "one" {
			num = strings.TrimSpace(n)
		}
	}
	if num == "" {
		t.Fatalf("s-nail does not list \"one\":\n%s", out)
	}
	e.snail("delete "+num+"\nquit\n", "-#", "-f", box)
	e.sendmail("From: c@example.org\nSubject: three\n\nthird\n", "root")
	e.deliver()

	msgs := e.readStore("mbox", box)
	if got := subjects(msgs); strings.Join(got, ",") != "three,two" {
		t.Fatalf("the mbox holds %q, want three and two\n%s", got, mustRead(t, box))
	}
	out, _ = e.snail("", "-R", "-Sheadline=%>%a%m|%s", "-H", "-f", box)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(out, "three") || !strings.Contains(out, "two") {
		t.Errorf("s-nail lists:\n%s", out)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
