package clients

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// mutt locks an mbox in the other order than a delivery: its fcntl lock
// first, then the dotlock (made by mutt_dotlock, which gives up after
// its retries and asks "Lock count exceeded, remove lock?"). While mutt
// holds its fcntl lock, a delivery that waits for it must not keep the
// dotlock: mutt_dotlock gets it, mutt finishes, and the delivery then
// appends, once. The delivery kept the dotlock for up to 30 seconds,
// mutt_dotlock failed (exit 3) and deliveries were deferred.
func TestMuttLockOrderAgainstDelivery(t *testing.T) {
	t.Parallel()
	need(t, "mutt_dotlock")
	e := newEnv(t, "")
	box := e.path("mbox")
	e.writeConfig(baseConfig(e.home) + fmt.Sprintf("store = %q\n", "mbox:"+box))
	e.startAgent()
	e.sendmail("From: a@example.org\nSubject: one\n\nfirst\n", "root")
	waitUntil(t, "the first delivery", func() bool {
		b, _ := os.ReadFile(box)
		return strings.Count(string(b), "\nSubject: ") == 1
	})

	// mutt's first step: the fcntl lock, as when it opens the mbox.
	f, err := os.Open(box)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The first delivery may still hold its own lock a moment after
	// its copy is seen.
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart}
	waitUntil(t, "the first delivery's lock to go", func() bool {
		err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
		if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) {
			t.Fatal(err)
		}
		return err == nil
	})
	e.sendmail("From: b@example.org\nSubject: two\n\nsecond\n", "root")
	// The delivery has met the fcntl lock.
	time.Sleep(time.Second)
	// mutt's second step: its dotlock, retried for up to 3 seconds.
	if out, err := exec.Command("mutt_dotlock", "-r", "3", box).CombinedOutput(); err != nil {
		t.Fatalf("mutt_dotlock could not lock %s while the delivery waited for mutt's fcntl lock: %v %s", box, err, out)
	}
	if b, err := os.ReadFile(box); err != nil || strings.Count(string(b), "\nSubject: ") != 1 {
		t.Fatalf("the mbox changed under mutt's locks: %v\n%s", err, b)
	}
	// mutt is done: it lets both go.
	if out, err := exec.Command("mutt_dotlock", "-u", box).CombinedOutput(); err != nil {
		t.Fatalf("mutt_dotlock -u: %v %s", err, out)
	}
	lk.Type = unix.F_UNLCK
	unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
	waitUntil(t, "the second delivery", func() bool {
		b, _ := os.ReadFile(box)
		return strings.Count(string(b), "\nSubject: ") == 2
	})
	if got := subjects(e.readStore("mbox", box)); strings.Join(got, ",") != "one,two" {
		t.Errorf("the mbox holds %q, want one and two", got)
	}
	waitUntil(t, "the dotlock to go", func() bool {
		_, err := os.Stat(box + ".lock")
		return errors.Is(err, os.ErrNotExist)
	})
}
