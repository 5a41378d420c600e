package mailx

import (
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"testing"

	"homepost/maildir"
)

// TestFollowupRecordsInFileNamedAfterRecipient: followup answers the
// sender only and appends the message sent to ./LOGIN (not to record);
// with folder set, Followup answers every sender of a list and records
// in the folder directory under the first one's name.
func TestFollowupRecordsInFileNamedAfterRecipient(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 3)
	script := "set record=~/record.mbox\nfollowup 1\nThanks.\n.\nfoll 1\nAgain.\n.\nq\n"
	if out, stderr, code := h.mail(t, script); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	q := h.queue(t)
	if len(q) != 2 || !slices.Equal(q[0].rcpts, []string{"user1@example.org"}) || !slices.Equal(q[1].rcpts, []string{"user1@example.org"}) {
		t.Fatalf("queued: %+v", q)
	}
	got := python(t, `
import mailbox, sys
for m in mailbox.mbox(sys.argv[1]):
    print(m.get_from().split()[0], '|', m['To'], '|', m['Subject'], '|', m['In-Reply-To'], '|', m.get_payload().splitlines()[-1])
`, h.path("user1"))
	from := h.cfgUser(t) + "@"
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], from) ||
		!strings.HasSuffix(lines[0], " <user1@example.org> | Re: Subject 1 | <msg1@example.org> | Thanks.") ||
		!strings.HasSuffix(lines[1], "| Again.") {
		t.Errorf("./user1:\n%s", got)
	}
	if _, err := os.Stat(h.path("record.mbox")); err == nil {
		t.Error("followup also wrote the record file")
	}
	got = python(t, `
import mailbox, sys
box = mailbox.Maildir(sys.argv[1], create=False)
print(sorted((m['Subject'], m.get_flags()) for m in box))
`, h.path("Maildir"))
	if got != "[('Subject 1', 'R'), ('Subject 2', ''), ('Subject 3', '')]\n" {
		t.Errorf("flags after followup: %s", got)
	}

	os.Mkdir(h.path("folders"), 0o700)
	if out, stderr, code := h.mail(t, "set folder=folders\nFollowup 3 2\nBoth.\n.\nx\n"); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	var both queued
	for _, x := range h.queue(t) {
		if strings.Contains(x.body, "Both.") {
			both = x
		}
	}
	if !slices.Equal(both.rcpts, []string{"user2@example.org", "user3@example.org"}) || both.msg.Header.Get("Subject") != "Re: Subject 2" {
		t.Errorf("Followup: recipients %q, subject %q", both.rcpts, both.msg.Header.Get("Subject"))
	}
	got = python(t, `
import mailbox, sys
print([(m['Subject'], m['To']) for m in mailbox.mbox(sys.argv[1])])
`, h.path("folders/user2"))
	if got != "[('Re: Subject 2', '\"User 2\" <user2@example.org>, \"User 3\" <user3@example.org>')]\n" {
		t.Errorf("folders/user2: %s", got)
	}
	if _, err := os.Stat(h.path("folders/user3")); err == nil {
		t.Error("Followup recorded under the second sender's name too")
	}
}

// cfgUser is the login name homepost finds for the test's user.
func (h *home) cfgUser(t *testing.T) string {
	t.Helper()
	if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil && u.Username != "" {
		return u.Username
	}
	if v := os.Getenv("LOGNAME"); v != "" {
		return v
	}
	return os.Getenv("USER")
}

// TestAlternatesLeftOutOfReplies: reply drops the user's login at the
// host name and at local domains, and the alternates (a whole address,
// or a bare name at a local domain), from To and Cc; metoo keeps them.
// Reply of a list drops them too, unless no one else is left.
func TestAlternatesLeftOutOfReplies(t *testing.T) {
	h := newHome(t)
	cfg := "deliver_without_agent = false\nsystem_aliases = \"\"\nhostname = \"box.test\"\nlocal_domains = [\"box.test\", \"localhost\"]\n"
	if err := os.WriteFile(h.path("config.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	me := h.cfgUser(t)
	md := maildir.Dir(h.path("Maildir"))
	for i, m := range []string{
		"From: Sender <sender@example.org>\nTo: " + me + "@box.test, other@example.com, Alt Name <ALT@work.example>\n" +
			"Cc: bob@work.example, jdoe@localhost, jdoe@elsewhere.example, " + me + "@LOCALHOST\nSubject: one\n\nbody\n",
		"From: Me At Work <alt@work.example>\nSubject: two\n\nbody\n",
		"From: user3@example.org\nSubject: three\n\nbody\n",
	} {
		if err := md.Deliver("16095774"+strconv.Itoa(10+i)+".M1P1.test", []byte(m), strings.NewReader("")); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(h.path(".mailrc"), []byte("alternates jdoe\nset noquote\n"), 0o600)
	script := "alternates\nalternates alt@work.example jdoe\nalt\nr 1\nAll.\n.\nR 2 3\nList.\n.\nR 2\nSelf.\n.\nset metoo\nr 1\nMetoo.\n.\nx\n"
	out, stderr, code := h.mail(t, script, "-N")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	if !strings.Contains(out, "\njdoe\nalt@work.example jdoe\nTo: ") {
		t.Errorf("alternates listing:\n%s", out)
	}
	sent := map[string][]string{}
	for _, q := range h.queue(t) {
		sent[strings.TrimSpace(q.body)] = q.rcpts
	}
	for body, want := range map[string][]string{
		"All.":   {"sender@example.org", "other@example.com", "bob@work.example", "jdoe@elsewhere.example"},
		"List.":  {"user3@example.org"},
		"Self.":  {"alt@work.example"},
		"Metoo.": {"sender@example.org", me + "@box.test", "other@example.com", "ALT@work.example", "bob@work.example", "jdoe@localhost", "jdoe@elsewhere.example", me + "@LOCALHOST"},
	} {
		if !slices.Equal(sent[body], want) {
			t.Errorf("%s sent to %q, want %q", body, sent[body], want)
		}
	}
}

// Replying to everyone of a message whose To has bytes that are not
// UTF-8 never queues an address that was not in it (U+FFFD in place of
// the bytes): that one is left out, and said so.
func TestReplyLeavesOutUnreadableAddress(t *testing.T) {
	h := newHome(t)
	os.MkdirAll(h.path("Maildir/new"), 0o700)
	os.MkdirAll(h.path("Maildir/cur"), 0o700)
	os.MkdirAll(h.path("Maildir/tmp"), 0o700)
	os.WriteFile(h.path("Maildir/new/1.a.host"), []byte("From: a@example.org\nTo: \xb4google@example.com, b@example.org\nSubject: s\n\nbody\n"), 0o600)
	_, stderr, code := h.mail(t, "reply 1\nok\n.\nq\n")
	q := h.queue(t)
	if code != 0 || len(q) != 1 {
		t.Fatalf("exit %d, %d queued: %s", code, len(q), stderr)
	}
	for _, r := range q[0].rcpts {
		if strings.ContainsRune(r, '\uFFFD') || strings.Contains(r, "google") {
			t.Errorf("recipients %q", q[0].rcpts)
		}
	}
	if !slices.Contains(q[0].rcpts, "a@example.org") || !slices.Contains(q[0].rcpts, "b@example.org") || !strings.Contains(stderr, "not UTF-8") {
		t.Errorf("recipients %q, stderr %s", q[0].rcpts, stderr)
	}
}
