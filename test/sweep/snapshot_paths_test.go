package sweep

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/test/testenv"
)

// The power-loss copies of TestPowerLossSnapshots (snapshot_test.go),
// for the other places a copy goes: an mbox store, a ~/.forward to the
// user's store, an mbox file and a command, and the smarthost. Each
// test runs the agent with its HOME on an ext4 made in a file (without
// a journal, and with one), gives it messages over its SMTP socket, from
// sendmail one at a time, and from sendmail in bursts of three queued
// while the agent is stopped (a batch of several messages: several
// appends to one mbox, several smarthost transactions on one
// connection), and copies the disk image right after each
// acknowledgement and at random moments while the agent delivers. Each
// copy is what a power loss at that instant leaves (testenv.PowerLoss);
// it is repaired as a boot would, mounted where the agent's file system
// was, given one "homepost agent --once" there (afterReboot), and checked against what README.md's "What survives a crash"
// promises for that place, no more:
//
//   - a Maildir or an mbox (the store, a file target of ~/.forward):
//     every message acknowledged before the copy exactly once, whole;
//     no message twice; no copy cut off; in an mbox, every "From " line
//     after an empty line;
//   - a command: every acknowledged message at least once, whole; at
//     most once more than before the crash (a crash sends again only
//     what was in flight; the journal keeps the rest from going again);
//   - the smarthost: every acknowledged message taken at least once,
//     before the power loss or by the agent after it; no message taken
//     both before and after, but the one transaction in flight ("a
//     crash sends again at most the transaction in flight").
//
// And in every copy the outbox holds nothing left to deliver.

// TestPowerLossSnapshotMbox: the store is an mbox (store = "mbox:~/mbox").
func TestPowerLossSnapshotMbox(t *testing.T) {
	pathSnapshots(t, snapPath{
		name:   "mbox",
		config: func(string) string { return "store = \"mbox:~/mbox\"\n" },
		once:   func(h string) []store { return []store{{"mbox", filepath.Join(h, "mbox")}} },
	})
}

// TestPowerLossSnapshotForward: ~/.forward keeps a copy in the user's
// store (\user), and sends one to an mbox file and one to a command,
// which keeps each message it read whole in a file of its own, made
// durable before it exits 0 (a command that does not sync what it took
// loses it in a power loss, whatever the agent does).
func TestPowerLossSnapshotForward(t *testing.T) {
	pathSnapshots(t, snapPath{
		name: "forward",
		setup: func(t *testing.T, h string) {
			script := "#!/bin/sh\nd=\"$HOME/cmd\"\nmkdir -p \"$d\"\nt=\"$d/tmp.$$\"\ncat > \"$t\" || exit 75\n" +
				"tail -n 1 \"$t\" | grep -q '^END-OF-MESSAGE ' || exit 75\n" +
				"sync \"$t\" || exit 75\nmv \"$t\" \"$d/msg.$$.$(date +%s%N)\" || exit 75\nsync \"$d\" || exit 75\n"
			if err := os.WriteFile(filepath.Join(h, "keep.sh"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			fwd := "\\" + testenv.Login(t) + "\n~/fwd.mbox\n\"|$HOME/keep.sh\"\n"
			if err := os.WriteFile(filepath.Join(h, ".forward"), []byte(fwd), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		once: func(h string) []store {
			return []store{{"maildir", filepath.Join(h, "Maildir")}, {"mbox", filepath.Join(h, "fwd.mbox")}}
		},
		atLeastOnce: func(h string) []store { return []store{{"dir", filepath.Join(h, "cmd")}} },
	})
}

// TestPowerLossSnapshotRelay: every message goes to a recipient of the
// smarthost. The agent run on a copy sends to a second smarthost (its
// config.toml in the copy is pointed there), so that what each side
// took is told apart: the first one's count is read while the agent is
// stopped for the copy, before anything more can reach it.
func TestPowerLossSnapshotRelay(t *testing.T) {
	pathSnapshots(t, snapPath{
		name:   "relay",
		relay:  true,
		config: func(addr string) string { return fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", addr) },
	})
}

// snapPath is one place of delivery whose power-loss copies are checked.
type snapPath struct {
	name   string
	config func(smarthost string) string
	// setup writes the user's files (.forward, a script).
	setup func(t *testing.T, home string)
	// once are the stores that must hold each acknowledged message
	// exactly once; atLeastOnce those of commands.
	once, atLeastOnce func(home string) []store
	relay             bool // the messages go to the smarthost
}

func pathSnapshots(t *testing.T, p snapPath) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting a test file system needs root")
	}
	if p.once != nil || p.atLeastOnce != nil {
		needPython(t)
	}
	for _, journal := range []bool{false, true} {
		t.Run(fmt.Sprintf("journal=%v", journal), func(t *testing.T) { pathSnapshotsOn(t, p, journal) })
	}
}

// snapMsgs are the messages of a run: how each is submitted (smtp,
// sendmail, or burst: with sendmail while the agent is stopped, three
// in a row) and one of 150 KB, larger than the mbox writer's buffer.
var snapMsgs = []string{"smtp", "sendmail", "burst", "burst", "burst", "smtp", "sendmail", "burst", "burst", "burst"}

func pathSnapshotsOn(t *testing.T, p snapPath, journal bool) {
	var live, after *testenv.Smarthost
	addr := ""
	if p.relay {
		live, after = testenv.StartSmarthost(t), testenv.StartSmarthost(t)
		addr = live.Addr
	}
	cfg := ""
	if p.config != nil {
		cfg = p.config(addr)
	}
	var setup func(string)
	if p.setup != nil {
		setup = func(home string) { p.setup(t, home) }
	}
	w := startOnImage(t, journal, cfg, setup)
	e, agent, img, mnt, sock := w.e, w.agent, w.img, w.mnt, w.sock
	rcpt := testenv.Login(t)
	if p.relay {
		rcpt = remote
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}

	prefix := fmt.Sprintf("%s%v.", p.name, journal)
	ms := msgs(prefix, len(snapMsgs), []string{rcpt}, map[int]int{3: 150_000})
	overSMTP := func(m message) {
		t.Helper()
		if err := c.Mail("script@example.org", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(strings.ReplaceAll(m.text(), "\n", "\r\n"))); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}

	acked, snaps := 0, 0
	var reads []snapRead
	var tl snapTally
	agentLog, _ := agent.Stderr.(*testenv.LockedBuffer)
	for i := 0; i < len(ms); {
		// What the agent has logged as sent to the command or the
		// smarthost before the next message is submitted, a check of
		// a copy (a few hundred milliseconds) or more after: its
		// batch has ended, and its result is recorded, in the journal
		// or by the retirement made durable "before the batch ends"
		// (agent/journal.go, finish). A power loss after that must not
		// send it again: only what is in flight goes twice.
		done := recordedSends(agentLog, p, e, live, ms)
		waits := []time.Duration{0, time.Duration(rand.IntN(4000)) * time.Microsecond}
		switch snapMsgs[i] {
		case "smtp":
			overSMTP(ms[i])
			i++
		case "sendmail":
			e.MustSend(ms[i].text(), "-oi", rcpt)
			i++
		case "burst":
			// Queued while the agent is stopped: it takes them up as
			// one batch when it goes on.
			thaw := testenv.StopHome(t, e.Home, agent.Process.Pid)
			for ; i < len(ms) && snapMsgs[i] == "burst"; i++ {
				e.MustSend(ms[i].text(), "-oi", rcpt)
			}
			thaw()
			waits = append(waits, time.Duration(4000+rand.IntN(26000))*time.Microsecond)
		}
		acked = i
		start := time.Now()
		for _, wait := range waits {
			time.Sleep(time.Until(start.Add(wait)))
			thaw := testenv.StopHome(t, e.Home, agent.Process.Pid)
			var before map[string]int
			if live != nil {
				before = hostCounts(t, live, ms)
			}
			snap := testenv.Snapshot(t, img)
			thaw()
			snaps++
			what := fmt.Sprintf("copy %d (after message %d, %v later)", snaps, acked-1, wait)
			if r := checkPathSnapshot(t, p, e, mnt, snap, ms, acked, what, live, after, before, done, &tl); r != nil {
				reads = append(reads, *r)
			}
		}
	}
	c.Quit()
	checkSnapshotStores(t, reads, ms, &tl)
	if live != nil {
		// Without a crash the agent itself sends each message once.
		e.WaitFor(func() bool { return len(hostCounts(t, live, ms)) == len(ms) }, "the smarthost to take every message")
		time.Sleep(100 * time.Millisecond)
		for id, k := range hostCounts(t, live, ms) {
			if k != 1 {
				t.Errorf("the running agent sent %s to the smarthost %d times", id, k)
			}
		}
	}
	// How much each copy tried: if no copy ever left work for the agent
	// after the power loss, the checks above proved little.
	t.Logf("%d copies checked; in %d the agent after the power loss delivered something; %d copies to a command and %d to the smarthost were sent again",
		snaps, tl.delivered, tl.cmdAgain, tl.hostAgain)
}

// hostCounts counts the messages of ms a smarthost took, by Message-ID,
// each whole (its body the one sent); a copy not whole fails the test.
func hostCounts(t *testing.T, h *testenv.Smarthost, ms []message) map[string]int {
	t.Helper()
	body := map[string]string{}
	for _, m := range ms {
		body[m.msgID()] = m.body()
	}
	n := map[string]int{}
	for _, raw := range h.Got(remote) {
		s := strings.ReplaceAll(raw, "\r\n", "\n")
		id := between(s, "\nMessage-ID: ", "\n")
		want, ok := body[id]
		if !ok {
			t.Errorf("the smarthost took a message that was never sent:\n%.300s", s)
			continue
		}
		if _, got, _ := strings.Cut(s, "\n\n"); got != want {
			t.Errorf("the smarthost took %s not whole:\n%.300s", id, s)
		}
		n[id]++
	}
	return n
}

// checkPathSnapshot repairs a copy of the image and runs one agent
// --once on it as after a reboot (afterReboot), then mounts it and
// checks its places against p: messages 0 to acked-1 of ms were
// acknowledged before the copy. e is the running agent's world, mnt its
// mount point. For the smarthost, live is the one the running agent
// sends to and before what it had taken when the copy was made; the
// agent on the copy sends to after.
func checkPathSnapshot(t *testing.T, p snapPath, e *testenv.Env, mnt, snap string, ms []message, acked int, what string, live, after *testenv.Smarthost, before map[string]int, done map[int]bool, tl *snapTally) *snapRead {
	t.Helper()
	testenv.Repair(t, snap)
	var sent map[string]int
	var relay [2]string
	if p.relay {
		sent = hostCounts(t, after, ms)
		relay = [2]string{live.Addr, after.Addr}
	}
	var locks []string
	for _, f := range []func(string) []store{p.once, p.atLeastOnce} {
		if f == nil {
			continue
		}
		for _, s := range f(e.Home) {
			if s.kind == "mbox" {
				locks = append(locks, s.path+".lock")
			}
		}
	}
	// What the copy holds after the agent's run, copied out of it.
	dir := filepath.Join(filepath.Dir(snap), "fs")
	stderr := afterReboot(t, e, mnt, snap, dir, relay, locks, what)
	if strings.Contains(stderr, "status=sent") {
		tl.delivered++
	}
	defer os.Remove(snap)

	failed := t.Failed()
	defer func() {
		if t.Failed() && !failed {
			t.Logf("%s: agent --once:\n%s", what, stderr)
		}
	}()
	rel, err := filepath.Rel(mnt, e.Home)
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, rel)
	ce := &testenv.Env{T: t, Bin: e.Bin, Home: home}

	var stores []store
	if p.once != nil {
		stores = append(stores, p.once(home)...)
	}
	nOnce := len(stores)
	if p.atLeastOnce != nil {
		stores = append(stores, p.atLeastOnce(home)...)
	}
	var r *snapRead
	if len(stores) > 0 {
		r = &snapRead{what: what, acked: acked, once: nOnce, done: done, log: stderr, item: readItem{Label: what, Expect: expectOf(ms)}}
		for _, s := range stores {
			r.item.Stores = append(r.item.Stores, readStore{Kind: s.kind, Path: s.path})
			if s.kind == "mbox" {
				checkMboxSeparators(t, what, s.path)
			}
		}
	}

	if p.relay {
		now := hostCounts(t, after, ms)
		twice := 0
		for i, m := range ms {
			id := m.msgID()
			b, a := before[id], now[id]-sent[id]
			switch {
			case b+a == 0 && i < acked:
				t.Errorf("%s: message %d, acknowledged, never reached the smarthost (before the power loss or after)", what, i)
			case b > 1 || a > 1:
				t.Errorf("%s: message %d taken by the smarthost %d times before the power loss and %d after", what, i, b, a)
			case b == 1 && a == 1 && done[i]:
				t.Errorf("%s: message %d sent to the smarthost again after the power loss, though its transaction had ended and been logged as sent well before (not in flight)", what, i)
				twice++
			case b == 1 && a == 1:
				twice++
			}
		}
		tl.hostAgain += twice
		if twice > 1 {
			t.Errorf("%s: %d messages the smarthost took before the power loss were sent again after it; only the transaction in flight may be", what, twice)
		}
	}

	for _, sub := range []string{"new", "cur"} {
		if left := testenv.Files(ce.Outbox(sub)); len(left) > 0 {
			t.Errorf("%s: the outbox's %s/ still holds %v after agent --once", what, sub, left)
		}
	}
	return r
}

// snapTally counts, over a run's copies, those in which the agent run
// after the power loss delivered something, and the copies it sent
// again to a command or the smarthost.
type snapTally struct{ delivered, cmdAgain, hostAgain int }

// snapRead is what a copy's stores hold after the agent's run on it,
// read by Python's mailbox module (one run for all the copies, which
// each cost it half a second), and what must be there: messages 0 to
// acked-1 (of ms) in each store, exactly once in the first once of
// them (a Maildir, an mbox), at least once in the others (a command's).
type snapRead struct {
	what  string
	acked int
	once  int
	done  map[int]bool // messages whose command had run, and was logged, well before
	log   string       // the agent's on the copy
	item  readItem
}

// checkSnapshotStores reads the copies' stores and checks them.
func checkSnapshotStores(t *testing.T, reads []snapRead, ms []message, tl *snapTally) {
	t.Helper()
	if len(reads) == 0 {
		return
	}
	items := make([]readItem, len(reads))
	for k, r := range reads {
		items[k] = r.item
	}
	for n, res := range readStores(t, items) {
		r := reads[n]
		failed := t.Failed()
		for k, st := range res.Stores {
			for _, err := range st.Errors {
				t.Errorf("%s: %s: %s", r.what, st.Path, err)
			}
			for i, m := range ms {
				whole, torn := st.Whole[m.msgID()], st.Torn[m.msgID()]
				switch {
				case torn > 0:
					t.Errorf("%s: %s: message %d cut off %d times", r.what, st.Path, i, torn)
				case whole == 0 && i < r.acked:
					t.Errorf("%s: %s: message %d, acknowledged, is lost", r.what, st.Path, i)
				case whole > 1 && k < r.once:
					t.Errorf("%s: %s: message %d stored %d times", r.what, st.Path, i, whole)
				case whole > 2:
					// One run before the power loss, one after.
					t.Errorf("%s: %s: message %d given to the command %d times", r.what, st.Path, i, whole)
				case whole == 2 && r.done[i]:
					t.Errorf("%s: %s: message %d given to the command again after the power loss, though its run had ended and been logged as sent well before (not in flight)", r.what, st.Path, i)
				case whole == 2:
					tl.cmdAgain++
				}
			}
		}
		if t.Failed() && !failed {
			t.Logf("%s: agent --once:\n%s", r.what, r.log)
		}
	}
}

// checkMboxSeparators checks an mbox's framing as a reader that trusts
// "From " lines sees it: the file starts with one, each other one comes
// after an empty line, and the file ends with a line end.
func checkMboxSeparators(t *testing.T, what, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return
	}
	if !bytes.HasPrefix(b, []byte("From ")) {
		t.Errorf("%s: %s does not start with a From line: %.80q", what, path, b)
	}
	if !bytes.HasSuffix(b, []byte("\n\n")) {
		t.Errorf("%s: %s does not end with an empty line: ...%q", what, path, b[max(0, len(b)-80):])
	}
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte("\nFrom "))
		if i < 0 {
			break
		}
		at := off + i
		if at == 0 || b[at-1] != '\n' {
			t.Errorf("%s: %s: a From line at byte %d without an empty line before it: %q", what, path, at+1, b[max(0, at-80):min(len(b), at+80)])
		}
		off = at + 1
	}
}

// snapUnshare finds unshare(1), which runs the agent on a copy as after
// a reboot; without it the test is skipped.
func snapUnshare(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/unshare", "/bin/unshare"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("unshare"); err == nil {
		return p
	}
	t.Skip("SKIP: no unshare")
	return ""
}

// afterReboot runs one "homepost agent --once" on the repaired copy snap
// as the agent's first run after the power loss: in namespaces of its
// own, with the copy mounted where the running agent's file system is
// (mnt), so that every path is the one the agent recorded before (a
// journal names an mbox by its absolute path), and no process of before
// the power loss is running (the running agent is only stopped: a
// dotlock naming it is then taken over). relay, when set, is the
// running agent's smarthost address and the one the agent on the copy
// is pointed to instead. A dotlock among locks that the copy holds is
// made 6 minutes old: it is taken over 5 minutes after it was made, and
// the power loss may have kept its name without the pid written in it
// (an empty file), which would hold the agent on the copy 30 seconds,
// then defer the mail for those 5 minutes. It copies what the file
// system then holds into out, and returns the agent's log.
func afterReboot(t *testing.T, e *testenv.Env, mnt, snap, out string, relay [2]string, locks []string, what string) string {
	t.Helper()
	const script = `set -e
mount -o loop "$HP_SNAP" "$HP_MNT"
if [ -n "$HP_FROM" ]; then sed -i "s/$HP_FROM/$HP_TO/" "$HP_CFG"; fi
for l in $HP_LOCKS; do if [ -e "$l" ]; then touch -d '-6 minutes' "$l"; fi; done
st=0
"$HP_BIN" agent --once || st=$?
mkdir "$HP_OUT"
cp -a "$HP_MNT/." "$HP_OUT/"
umount "$HP_MNT"
exit $st
`
	cmd := exec.Command(snapUnshare(t), "--mount", "--pid", "--fork", "--mount-proc", "/bin/sh", "-c", script)
	cmd.Env = append(append([]string(nil), e.Vars...),
		"HP_SNAP="+snap, "HP_MNT="+mnt, "HP_OUT="+out, "HP_BIN="+filepath.Join(e.Bin, "homepost"),
		"HP_FROM="+relay[0], "HP_TO="+relay[1], "HP_CFG="+e.Path(".config", "homepost", "config.toml"),
		"HP_LOCKS="+strings.Join(locks, " "))
	cmd.Dir = "/"
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: agent --once after the power loss: %v: %s", what, err, errb.String())
	}
	return errb.String()
}

// recordedSends returns the messages of ms whose copy for the command
// (p.atLeastOnce) or the smarthost (p.relay) the running agent has
// logged as sent ("msg=delivery id=QUEUEID ... status=sent"). A queue
// ID is told as a message by the Received field the smarthost's copy
// carries ("(homepost) id QUEUEID"), or by the name of the message's
// copy in the user's Maildir (the queue file's name, "R" and the
// recipient's index).
func recordedSends(log *testenv.LockedBuffer, p snapPath, e *testenv.Env, live *testenv.Smarthost, ms []message) map[int]bool {
	if log == nil {
		return nil
	}
	index := map[string]int{}
	for i, m := range ms {
		index[m.msgID()] = i
	}
	byQueueID := map[string]int{}
	switch {
	case p.relay:
		for _, raw := range live.Got(remote) {
			s := strings.ReplaceAll(raw, "\r\n", "\n")
			f := strings.Fields(between(s, "(homepost) id ", "\n"))
			if i, ok := index[between(s, "\nMessage-ID: ", "\n")]; ok && len(f) > 0 {
				byQueueID[strings.TrimSuffix(f[0], ";")] = i
			}
		}
	case p.atLeastOnce != nil:
		for _, sub := range []string{"new", "cur"} {
			for _, name := range testenv.Files(e.Path("Maildir", sub)) {
				b, err := os.ReadFile(e.Path("Maildir", sub, name))
				if err != nil {
					continue
				}
				_, rest, _ := strings.Cut(name, ".")
				id, _, _ := strings.Cut(rest, ".")
				if k := strings.LastIndexByte(id, 'R'); k > 0 {
					id = id[:k]
				}
				if i, ok := index[between("\n"+string(b), "\nMessage-ID: ", "\n")]; ok {
					byQueueID[id] = i
				}
			}
		}
	default:
		return nil
	}
	done := map[int]bool{}
	for _, l := range strings.Split(log.String(), "\n") {
		if !strings.Contains(l, "msg=delivery ") || !strings.Contains(l, " status=sent ") {
			continue
		}
		if !strings.Contains(l, " target="+remote+" ") && !strings.Contains(l, " target=|") {
			continue
		}
		if i, ok := byQueueID[between(l, " id=", " ")]; ok {
			done[i] = true
		}
	}
	return done
}
