package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
)

// The whole pipeline with a running agent: sendmail → outbox → fsnotify →
// ~/Maildir, read back by Python's mailbox module.
func TestSendmailToMaildirWithAgent(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	e.StartAgent()
	e.MustSend("Subject: first\r\nTo: whoever\r\n\r\nhello\r\n.\r\nnot part of it\r\n", "root")
	e.MustSend("Subject: second\n\nline one\n.\nstill part of it\n", "-oi", "-f", "cron@example.org", "-F", "Cron Daemon", testenv.Login(t)+"@localhost")
	e.WaitFor(func() bool { return len(testenv.Files(e.Path("Maildir", "new"))) == 2 }, "two messages in ~/Maildir/new")
	out := testenv.Python(t, `
import mailbox, sys
md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
for key in sorted(md.keys(), key=lambda k: md[k]['Subject']):
    m = md[key]
    print(m['Subject'], '|', m['From'], '|', m['Return-Path'], '|', m['Delivered-To'], '|', repr(m.get_payload()))
`, e.Path("Maildir"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("python read %d messages:\n%s", len(lines), out)
	}
	if !strings.HasPrefix(lines[0], "first |") || !strings.HasSuffix(lines[0], "'hello\\n'") {
		t.Errorf("first message: %s (a lone dot must end the message without -i)", lines[0])
	}
	if !strings.Contains(lines[1], `"Cron Daemon" <cron@example.org>`) || !strings.Contains(lines[1], "<cron@example.org>") ||
		!strings.HasSuffix(lines[1], `'line one\n.\nstill part of it\n'`) {
		t.Errorf("second message: %s", lines[1])
	}
	// Nothing is left in the queue.
	if q := testenv.Files(e.Outbox("new")); len(q) != 0 {
		t.Errorf("outbox/new not empty: %v", q)
	}
	if q := testenv.Files(e.Outbox("cur")); len(q) != 0 {
		t.Errorf("outbox/cur not empty: %v", q)
	}
	stdout, _, _ := e.Run(nil, "mailq")
	if stdout != "Mail queue is empty\n" {
		t.Errorf("mailq: %q", stdout)
	}
}

// -t takes recipients from every To, Cc and Bcc field (folded, grouped)
// and removes Bcc from what is stored.
func TestExtractRecipientsAndBcc(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	msg := "To: Someone <far@remote.example>,\n\tundisclosed: ;\nCc: group: a@remote.example, \"Q, R\" <q@remote.example>;\nBcc: root@localhost\nBcc: hidden@remote.example\nSubject: t\n\nbody\n"
	e.MustSend(msg, "-t", "-i")
	e.Once()
	got := testenv.Files(e.Path("Maildir", "new"))
	if len(got) != 1 {
		t.Fatalf("want one local copy (root@localhost), got %v", got)
	}
	b, _ := os.ReadFile(e.Path("Maildir", "new", got[0]))
	if bytes.Contains(b, []byte("Bcc")) || bytes.Contains(b, []byte("hidden@")) {
		t.Errorf("Bcc leaked into the stored copy:\n%s", b)
	}
	q, _, _ := e.Run(nil, "mailq")
	for _, a := range []string{"far@remote.example", "a@remote.example", "q@remote.example", "hidden@remote.example"} {
		if !strings.Contains(q, a) {
			t.Errorf("mailq lacks %s:\n%s", a, q)
		}
	}
	if !strings.Contains(q, "(no smarthost configured") {
		t.Errorf("mailq does not say why mail waits:\n%s", q)
	}
	if m := regexp.MustCompile(`(?m)^-- \d+ Kbytes in 1 Request\.$`).FindString(q); m == "" {
		t.Errorf("mailq footer:\n%s", q)
	}
}

func TestSendmailUsageErrors(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-x", "root"}, 64, "unknown option -x"},
		{[]string{}, 64, "recipient addresses must be specified"},
		// No recipients in the header is a usage error, as Postfix's
		// sendmail exits (EX_USAGE), as it does without -t.
		{[]string{"-t"}, 64, "no recipient addresses found"},
		{[]string{"-f"}, 64, "requires an argument"},
		{[]string{"bad address@x"}, 65, "bad recipient"},
		// Not UTF-8: a smarthost would refuse it, later, in a bounce.
		{[]string{"\xff\xfe@test.invalid"}, 65, `"\xff\xfe@test.invalid" is not an address: it is not valid UTF-8`},
		{[]string{"-f", "j\xf6rg@example.org", "root"}, 65, "bad sender address"},
	} {
		_, stderr, code := e.Run([]byte("Subject: x\n\nb\n"), "sendmail", c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) || !strings.HasPrefix(stderr, "homepost: ") {
			t.Errorf("sendmail %v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
	if n := testenv.Files(e.Outbox("new")); len(n) != 0 {
		t.Errorf("failed submissions left %v in outbox/new", n)
	}
	// Every flag that real callers pass is accepted.
	e.MustSend("Subject: flags\n\nb\n", "-oem", "-oee", "-odi", "-odb", "-odq", "-B", "8BITMIME", "-B8BITMIME",
		"-N", "never", "-R", "hdrs", "-V", "env1", "-bm", "-C", "/dev/null", "-h", "10", "-L", "tag", "-X", "/dev/null",
		"-ti", "-fme@example.org", "-Fme", "-r", "me@example.org", "--", "root,postmaster")
}

// The store may be an mbox: Python's mailbox.mbox reads it, with mboxrd
// quoting of From lines undone.
func TestMboxStore(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "store = \"mbox:~/mail/inbox\"\n")
	e.MustSend("Subject: one\n\nFrom the start\n>From quoted\n", "root")
	e.MustSend("Subject: two\n\nno newline at end", "root")
	e.Once()
	out := testenv.Python(t, `
import mailbox, sys
for m in mailbox.mbox(sys.argv[1], create=False):
    print(m['Subject'], repr(m.get_payload()), m.get_from().split()[0])
`, e.Path("mail", "inbox"))
	// Python's mailbox keeps mboxrd quoting as it is in the file.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] != "one '>From the start\\n>>From quoted\\n' "+testenv.Login(t)+"@testhost.example" ||
		lines[1] != "two 'no newline at end\\n' "+testenv.Login(t)+"@testhost.example" {
		t.Errorf("mbox read back (in arrival order):\n%s", out)
	}
	raw, _ := os.ReadFile(e.Path("mail", "inbox"))
	if !bytes.Contains(raw, []byte("\n>From the start\n>>From quoted\n")) {
		t.Errorf("mboxrd quoting missing:\n%s", raw)
	}
}

// A second agent says so and exits 0; SIGTERM stops an agent cleanly.
func TestOneAgentPerUser(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	a := e.StartAgent()
	_, stderr, code := e.Run(nil, "homepost", "agent")
	if code != 0 || !strings.Contains(stderr, "another agent is running") {
		t.Errorf("second agent: exit %d, %q", code, stderr)
	}
	a.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- a.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("agent after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not stop on SIGTERM")
	}
}

// Without an agent, the shim starts a detached one-shot delivery after
// the message is durable: mail does not wait for a login.
func TestDeliverWithoutAgent(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	e.DeliverWithoutAgent()
	for i := range 3 {
		e.MustSend(fmt.Sprintf("Subject: n%d\n\nb\n", i), "root")
	}
	e.WaitFor(func() bool { return len(testenv.Files(e.Path("Maildir", "new"))) == 3 }, "three messages delivered by one-shot agents")
}

// kill -9 of the agent at random instants while hundreds of messages
// stream in loses none and stores none twice.
func TestKill9LosesNothing(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	const n = 300
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			c := e.Cmd([]byte(fmt.Sprintf("Subject: msg %d\nMessage-ID: <m%d@test>\n\nbody %d\n", i, i, i)), "sendmail", "-i", "root")
			if out, err := c.CombinedOutput(); err != nil {
				sent <- fmt.Errorf("sendmail %d: %v %s", i, err, out)
				return
			}
		}
		sent <- nil
	}()
	kills := 0
	var sendErr error
	for done := false; !done; {
		c := e.Cmd(nil, "homepost", "agent")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(40)+5) * time.Millisecond)
		c.Process.Kill()
		c.Wait()
		kills++
		select {
		case sendErr = <-sent:
			done = true
		default:
		}
	}
	if sendErr != nil {
		t.Fatal(sendErr)
	}
	e.Once()
	seen := map[string]int{}
	for _, dir := range []string{"new", "cur"} {
		for _, f := range testenv.Files(e.Path("Maildir", dir)) {
			b, err := os.ReadFile(e.Path("Maildir", dir, f))
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`(?m)^Message-ID: (<m\d+@test>)$`).FindSubmatch(b)
			if m == nil {
				t.Fatalf("stored copy without its Message-ID: %s", b)
			}
			seen[string(m[1])]++
		}
	}
	for i := range n {
		id := fmt.Sprintf("<m%d@test>", i)
		if seen[id] != 1 {
			t.Errorf("%s stored %d times", id, seen[id])
		}
	}
	if len(testenv.Files(e.Outbox("new")))+len(testenv.Files(e.Outbox("cur"))) != 0 {
		t.Errorf("queue not empty after recovery")
	}
	t.Logf("%d messages, agent killed %d times", n, kills)
}

// A full disk makes the shim exit 75 and leaves nothing partial in new/.
func TestDiskFullExits75(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	state := e.Path(".local", "state")
	os.MkdirAll(state, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", state).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot mount a small tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", state).Run()
	big := "Subject: big\n\n" + strings.Repeat("0123456789abcdef\n", 64<<10) // 1 MB
	_, stderr, code := e.Run([]byte(big), "sendmail", "root")
	if code != 75 {
		t.Errorf("sendmail on a full disk: exit %d (%s), want 75", code, stderr)
	}
	if n := testenv.Files(e.Outbox("new")); len(n) != 0 {
		t.Errorf("partial message in new/: %v", n)
	}
	if n := testenv.Files(e.Outbox("tmp")); len(n) != 0 {
		t.Errorf("partial message left in tmp/: %v", n)
	}
	// A small message still fits and goes through.
	e.MustSend("Subject: small\n\nok\n", "root")
}

// A 200 MB message streams through the shim in constant memory.
//
// The peak is read from the child's own /proc/PID/status (VmHWM) while it
// runs, not from its rusage: Go starts a child with vfork, in the test
// process's address space until exec, and Linux keeps that space's
// high-water mark as the child's Maxrss (a test binary under -race, with
// other tests in parallel, reached 75 MB there).
func TestHugeMessageConstantMemory(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("SKIP: -short")
	}
	e := testenv.New(t, "")
	c := e.Cmd(nil, "sendmail", "-i", "root")
	pr, pw, _ := os.Pipe()
	c.Stdin = pr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	stopWatch := testenv.WatchPeak(c.Process.Pid)
	line := bytes.Repeat([]byte("x"), 1023)
	line = append(line, '\n')
	pw.Write([]byte("Subject: huge\n\n"))
	for range 200 << 10 {
		if _, err := pw.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	// Everything but the pipe's buffer has been read: the peak so far is
	// the peak of streaming the message.
	last, _ := testenv.VmHWM(c.Process.Pid)
	pw.Close()
	err := c.Wait()
	hwm := max(stopWatch(), last)
	if err != nil {
		t.Fatal(err)
	}
	if hwm == 0 {
		t.Fatal("could not read the sendmail's VmHWM from /proc")
	}
	if hwm > 64<<10 {
		t.Errorf("sendmail peak RSS %d KB for a 200 MB message, want < 64 MB", hwm)
	}
	names := testenv.Files(e.Outbox("new"))
	if len(names) != 1 {
		t.Fatalf("queued: %v", names)
	}
	st, _ := os.Stat(filepath.Join(e.Outbox("new"), names[0]))
	if st.Size() < 200<<20 {
		t.Errorf("queued file is %d bytes", st.Size())
	}
	t.Logf("peak RSS %d KB", hwm)
}

// A shim killed before the end of its input leaves nothing that will be
// sent.
func TestKilledShimSendsNothing(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	c := e.Cmd(nil, "sendmail", "root")
	w, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: half\n\n" + strings.Repeat("line\n", 20000)))
	time.Sleep(100 * time.Millisecond)
	c.Process.Kill()
	c.Wait()
	if n := testenv.Files(e.Outbox("new")); len(n) != 0 {
		t.Fatalf("killed shim left %v in new/", n)
	}
	e.Once()
	if n := testenv.Files(e.Path("Maildir", "new")); len(n) != 0 {
		t.Errorf("a half message was delivered: %v", n)
	}
}

// The agent reloads its configuration when the file changes (fsnotify)
// and on SIGHUP, without a restart.
func TestAgentReloads(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	a := e.StartAgent()
	e.MustSend("Subject: before\n\nx\n", "root")
	e.WaitFor(func() bool { return len(testenv.Files(e.Path("Maildir", "new"))) == 1 }, "delivery to the Maildir")
	cfg := e.Path(".config", "homepost", "config.toml")
	b, _ := os.ReadFile(cfg)
	// Write the new file beside and rename it over, as editors do.
	tmp := cfg + ".new"
	os.WriteFile(tmp, append(b, []byte("store = \"mbox:~/inbox.mbox\"\n")...), 0o600)
	os.Rename(tmp, cfg)
	e.WaitFor(func() bool {
		e.MustSend("Subject: after\n\nx\n", "root")
		time.Sleep(100 * time.Millisecond)
		_, err := os.Stat(e.Path("inbox.mbox"))
		return err == nil
	}, "delivery to the new mbox store")
	// A broken config is refused on SIGHUP; the agent keeps the old one.
	os.WriteFile(cfg, append(b, []byte("bogus_key = 1\n")...), 0o600)
	a.Process.Signal(syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond)
	if err := a.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatal("agent died on a broken config")
	}
	// sendmail does not refuse mail under a broken config: it queues,
	// exits 0 and names the mistake, which is seen at once; the agent
	// delivers with the configuration it read before (the mbox store).
	before := mboxCount(t, e.Path("inbox.mbox"))
	if _, stderr, code := e.Run([]byte("Subject: x\n\nx\n"), "sendmail", "root"); code != 0 || !strings.Contains(stderr, "bogus_key") {
		t.Errorf("sendmail with a broken config: exit %d, %q", code, stderr)
	}
	e.WaitFor(func() bool { return mboxCount(t, e.Path("inbox.mbox")) == before+1 }, "delivery with the configuration read before")
}

// mboxCount counts the messages in an mbox by its From lines.
func mboxCount(t *testing.T, path string) int {
	t.Helper()
	b, _ := os.ReadFile(path)
	return strings.Count("\n"+string(b), "\nFrom ")
}

// With an mbox store too, kill -9 of the agent at random instants stores
// no message twice: a retry looks for its own copy at the mbox's end.
func TestKill9MboxNoDuplicates(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "store = \"mbox:~/inbox\"\n")
	const n = 150
	for i := range n {
		e.MustSend(fmt.Sprintf("Subject: msg %d\nMessage-ID: <m%d@test>\n\nbody %d\n", i, i, i), "-i", "root")
	}
	for range 30 {
		c := e.Cmd(nil, "homepost", "agent")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(30)+3) * time.Millisecond)
		c.Process.Kill()
		c.Wait()
	}
	e.Once()
	out := testenv.Python(t, `
import mailbox, sys, collections
c = collections.Counter(m['Message-ID'] for m in mailbox.mbox(sys.argv[1], create=False))
print(len(c), max(c.values()))
`, e.Path("inbox"))
	if strings.TrimSpace(out) != fmt.Sprintf("%d 1", n) {
		t.Errorf("mbox holds (distinct, max copies) = %s, want %d 1", out, n)
	}
}

// switches sums the context switches of every thread of a process.
func switches(t *testing.T, pid int) int {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Skip("SKIP: no /proc to count wake-ups")
	}
	n := 0
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "ctxt_switches:") {
				var v int
				fmt.Sscanf(strings.Fields(l)[1], "%d", &v)
				n += v
			}
		}
	}
	return n
}

// An idle agent makes no wake-ups and prints nothing; a delivery is one
// key=value line with the fields DESIGN.md names.
func TestIdleAgentIsSilent(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	var log testenv.LockedBuffer
	a := e.Cmd(nil, "homepost", "agent")
	a.Stderr = &log
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { a.Process.Kill(); a.Wait() }()
	e.WaitFor(func() bool { return strings.Contains(log.String(), "agent started") }, "the agent")
	time.Sleep(300 * time.Millisecond)
	before := switches(t, a.Process.Pid)
	time.Sleep(2 * time.Second)
	if d := switches(t, a.Process.Pid) - before; d > 5 {
		t.Errorf("an idle agent woke up %d times in 2 s", d)
	}
	if n := strings.Count(log.String(), "\n"); n != 1 {
		t.Errorf("an idle agent printed:\n%s", log.String())
	}
	e.MustSend("Subject: s\n\nb\n", "root")
	e.WaitFor(func() bool { return strings.Count(log.String(), "\n") == 2 }, "the delivery's log line")
	line := strings.Split(log.String(), "\n")[1]
	if !regexp.MustCompile(`msg=delivery id=\S+ from=<\S+> to=\S+ orig_to=root target=\S+ status=sent delay=\S+ dsn=2\.0\.0 reason=`).MatchString(line) {
		t.Errorf("log line: %s", line)
	}
}

// A bare sender name (-f root, -f www-data, mail -r root) is qualified
// with the hostname, as Postfix adds myorigin and as the SMTP listener
// does: a smarthost refuses MAIL FROM:<root>, and Return-Path names the
// address bounces go to.
func TestBareSenderQualified(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	e.MustSend("Subject: f\n\nb\n", "-f", "www-data", "root")
	if _, stderr, code := e.Run([]byte("b\n"), "mail", "-r", "root", "-s", "r", "root"); code != 0 {
		t.Fatalf("mail -r: %d %s", code, stderr)
	}
	e.MustSend("Subject: named\n\nb\n", "-f", "Bob <bob>", "root")
	e.Once()
	out := testenv.Python(t, `
import mailbox, sys
md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
for key in sorted(md.keys(), key=lambda k: md[k]['Subject']):
    m = md[key]
    print(m['Subject'], '|', m['Return-Path'], '|', m['From'])
`, e.Path("Maildir"))
	want := "f | <www-data@testhost.example> | www-data@testhost.example\n" +
		"named | <bob@testhost.example> | bob@testhost.example\n" +
		"r | <root@testhost.example> | root@testhost.example\n" // mail qualifies -r as sendmail -f
	if out != want {
		t.Errorf("stored:\n%s\nwant:\n%s", out, want)
	}
}

// A message whose first line begins with white space continues no field:
// its header is empty and that line begins the body, as in Postfix. Kept
// as a header line, it continued the Received field stored above it.
func TestLeadingWhiteSpaceStartsBody(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	e.MustSend(" X-Leading: ws\nSubject: s\n\nb\n", "root")
	e.Once()
	out := testenv.Python(t, `
import mailbox, sys
md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
for key in md.keys():
    m = md[key]
    print(repr(m['Received']), '|', repr(m.get_payload()))
`, e.Path("Maildir"))
	if !strings.Contains(out, `| ' X-Leading: ws\nSubject: s\n\nb\n'`) {
		t.Errorf("the body is not the message as sent: %s", out)
	}
	if strings.Contains(strings.SplitN(out, "|", 2)[0], "X-Leading") {
		t.Errorf("the first line continues the Received field: %s", out)
	}
}
