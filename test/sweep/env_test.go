// Package sweep proves homepost's crash guarantees by enumeration rather
// than by luck. Two halves:
//
//   - The crash-point sweep (sweep_test.go) runs a delivery under ptrace
//     fault injection, as strace -e inject=SC:signal=SIGKILL:when=N does
//     but counting the calls of all threads together (killer_test.go),
//     and kills it at the Nth call of each system call that changes a
//     file or the network, for every N until the delivery completes;
//     after each kill a clean "agent --once" recovers, and an
//     independent reader (Python's mailbox module) checks that every
//     message is stored exactly once and whole. The same sweep kills
//     "homepost agent" while it serves its SMTP listener to a client
//     (listener_test.go): a message answered 250 is stored exactly once
//     and whole, one that was not at most once and whole. It kills
//     both sendmail programs (the small one and "homepost sendmail")
//     while they queue a message, "homepost agent" while it follows
//     a move of the outbox (move_test.go), and "homepost queue hold"
//     of mail the running agent is busy with, and the agent as it
//     takes that hold (askedhold_test.go).
//   - The power-loss half (power_test.go) records the system calls of
//     one delivery per store kind and checks their order against the
//     fsync model (trace_test.go): what a kill cannot show, because the
//     kernel keeps what was written, a power loss would.
//
// The suite skips, saying why, where strace or python3 is missing, where
// ptrace is not allowed, and (the sweep) off linux/amd64. With -short
// the batch scenario, "homepost sendmail" into an outbox holding a
// spare, and the agent starting on holds asked for (askedhold_test.go),
// are left out.
package sweep

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/test/testenv"
)

// needPython skips the test, saying why, unless python3 can read what
// was stored.
func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("SKIP: python3 is not installed: the sweep reads the stores with Python's mailbox module")
	}
}

// needKiller skips the test, saying why, unless the killer (ptrace) can
// run here.
func needKiller(t *testing.T) {
	t.Helper()
	if why := canKill(); why != "" {
		t.Skip("SKIP: cannot inject kills with ptrace here: " + why)
	}
}

// needStrace skips the test, saying why, unless strace can trace here.
func needStrace(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("SKIP: strace is not installed (apt-get install strace): the fsync-order check reads its traces")
	}
	if out, err := exec.Command("strace", "-f", "-o", "/dev/null", "-e", "trace=none", "true").CombinedOutput(); err != nil {
		t.Skipf("SKIP: strace cannot trace here (ptrace not allowed?): %v %s", err, bytes.TrimSpace(out))
	}
}

// message is one message of a scenario.
type message struct {
	id    string   // Message-ID without brackets
	rcpts []string // sendmail arguments after -i
	size  int      // approximate body size
}

func (m message) msgID() string { return "<" + m.id + ">" }

// remote is the smarthost's recipient of relay scenarios.
const remote = "far@remote.example"

// refused is a recipient that the smarthost refuses with 550: its
// message bounces, and the DSN must be stored once and whole.
const refused = "nobody@remote.example"

// bounces reports whether m has a recipient that bounces.
func (m message) bounces() bool { return slices.Contains(m.rcpts, refused) }

// remoteIdx is the index of the smarthost's recipient among m's.
func (m message) remoteIdx() int {
	for i, r := range m.rcpts {
		if r == remote {
			return i
		}
	}
	return 0
}

// body is the message body: numbered lines up to size, then an end
// line, so that a cut-off copy is told from a whole one.
func (m message) body() string {
	var b strings.Builder
	for i := 0; b.Len() < m.size; i++ {
		fmt.Fprintf(&b, "line %05d of %s: the quick brown fox jumps over the lazy dog\n", i, m.id)
	}
	b.WriteString("END-OF-MESSAGE " + m.id + "\n")
	return b.String()
}

func (m message) text() string {
	return "Subject: sweep " + m.id + "\nMessage-ID: " + m.msgID() + "\n\n" + m.body()
}

// sum is the SHA-256 of the body, as the reader compares it.
func (m message) sum() string {
	s := sha256.Sum256([]byte(m.body()))
	return hex.EncodeToString(s[:])
}

// store is a place where whole copies must be found: a Maildir, an mbox,
// or a directory of files a command wrote (at least once each, never
// again once the journal says delivered).
type store struct {
	kind string // "maildir", "mbox", "dir"
	path string
}

// scenario is one delivery to sweep.
type scenario struct {
	name string
	// config is the extra configuration (the smarthost's address for
	// relay scenarios).
	config func(smarthost string) string
	// setup writes the user's files (aliases, .forward, scripts).
	setup  func(home string)
	stores func(home string) []store
	msgs   []message
	relay  bool // the messages go to the smarthost
	// cmdTarget is the start of the target (in the journal's x records)
	// whose results the command check reads.
	cmdTarget string
	// queue holds the queue files made once by sendmail, copied into
	// every run's outbox.
	queue map[string][]byte
	// names maps a message ID to its queue file name.
	names map[string]string
	// noOutbox leaves the outbox to be created by the programs.
	noOutbox bool
	// listener: the messages are submitted over SMTP to "homepost
	// agent" while it runs (listener_test.go), not queued before.
	listener bool
	// daemon: the queue is delivered by "homepost agent" (the daemon,
	// whose smarthost copies go out from a worker of their own),
	// stopped with SIGTERM once it is done (daemon_test.go), not by
	// "agent --once".
	daemon bool
	// run, when set, is the run under the killer (killed at the nth
	// call of sys), and recover the recovery after a kill, in place of
	// "agent --once": it returns the recovery's log and what it found
	// wrong (move_test.go).
	run     func(w *world, sys string, n int) outcome
	recover func(w *world) (log string, bad []string)
	// always: the recovery runs after a run that was not killed too
	// (the run leaves mail held, which the recovery releases).
	always bool
}

// prepare queues the scenario's messages once with sendmail and keeps
// the queue files, so that each crash point starts from a copy.
func (sc *scenario) prepare(t *testing.T) {
	t.Helper()
	e := testenv.New(t, "")
	sc.queue, sc.names = map[string][]byte{}, map[string]string{}
	for _, m := range sc.msgs {
		before := map[string]bool{}
		for _, n := range testenv.Files(e.Outbox("new")) {
			before[n] = true
		}
		e.MustSend(m.text(), append([]string{"-i"}, m.rcpts...)...)
		for _, n := range testenv.Files(e.Outbox("new")) {
			if !before[n] {
				b, err := os.ReadFile(filepath.Join(e.Outbox("new"), n))
				if err != nil {
					t.Fatal(err)
				}
				sc.queue[n], sc.names[m.id] = b, n
			}
		}
	}
	if len(sc.queue) != len(sc.msgs) {
		t.Fatalf("queued %d files for %d messages", len(sc.queue), len(sc.msgs))
	}
}

// world is one run's HOME with its smarthost.
type world struct {
	e      *testenv.Env
	host   *testenv.Smarthost
	sc     *scenario
	socket string // the listener's Unix socket
}

// newWorld makes a HOME holding the scenario's queue, ready to deliver.
func (sc *scenario) newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{sc: sc}
	addr := ""
	if sc.relay {
		w.host = testenv.StartSmarthost(t)
		w.host.Set(refused, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
		addr = w.host.Addr
	}
	cfg := ""
	if sc.config != nil {
		cfg = sc.config(addr)
	}
	w.e = testenv.New(t, cfg)
	if sc.setup != nil {
		sc.setup(w.e.Home)
	}
	if sc.listener {
		// A runtime directory of its own, with a short path: a Unix
		// socket's path has at most 107 bytes.
		rt, err := os.MkdirTemp("", "hp-rt")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(rt) })
		w.e.Vars = append(w.e.Vars, "XDG_RUNTIME_DIR="+rt)
		w.socket = filepath.Join(rt, "homepost", "smtp")
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if sc.noOutbox {
			break
		}
		if err := os.MkdirAll(w.e.Outbox(sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for n, b := range sc.queue {
		if err := os.WriteFile(filepath.Join(w.e.Outbox("new"), n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// stores lists where this world's copies go.
func (w *world) stores() []store { return w.sc.stores(w.e.Home) }

// outcome is what a run under the killer or strace did.
type outcome struct {
	killed bool   // the program was killed
	site   string // the call it was killed at
	calls  int    // calls of the swept system call it made
	stderr string
	err    error
}

// record runs the binary's program name under strace -f -y, which
// writes every call of the system calls sys (comma-separated) with the
// paths of its descriptors to traceFile.
func (w *world) record(stdin []byte, sys string, traceFile string, name string, args ...string) outcome {
	sargs := []string{"-f", "-qq", "-y", "-s", "64", "-o", traceFile, "-b", "execve", "--seccomp-bpf", "-e", "trace=" + sys}
	sargs = append(sargs, filepath.Join(w.e.Bin, name))
	c := exec.Command("strace", append(sargs, args...)...)
	c.Env, c.Dir = w.e.Vars, "/"
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	var errb bytes.Buffer
	c.Stderr = &errb
	err := c.Run()
	o := outcome{stderr: errb.String()}
	if err != nil {
		o.err = fmt.Errorf("strace %s: %v: %s", name, err, o.stderr)
	}
	return o
}

// once runs "homepost agent --once" and returns its log.
func (w *world) once() (string, error) {
	c := w.e.Cmd(nil, "homepost", "agent", "--once")
	var errb bytes.Buffer
	c.Stderr = &errb
	err := c.Run()
	if err != nil {
		return errb.String(), fmt.Errorf("agent --once: %v: %s", err, errb.String())
	}
	return errb.String(), nil
}

// waitOrphans waits until no process started for this HOME runs any
// more: a command the killed agent had started carries on by itself.
func (w *world) waitOrphans() {
	if w.sc.cmdTarget == "" {
		return // no command was started
	}
	needle := []byte("HOME=" + w.e.Home + "\x00")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		procs, _ := filepath.Glob("/proc/[0-9]*/environ")
		found := false
		for _, p := range procs {
			b, err := os.ReadFile(p)
			if err == nil && bytes.Contains(b, needle) {
				found = true
				break
			}
		}
		if !found {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leftovers reports what the outbox still holds, anything set aside as
// unreadable, and lock files left beside an mbox.
func (w *world) leftovers() string {
	var l []string
	for _, sub := range []string{"new", "cur"} {
		for _, n := range testenv.Files(w.e.Outbox(sub)) {
			l = append(l, sub+"/"+n)
		}
	}
	for _, n := range testenv.Files(w.e.Path(".local", "state", "homepost", "corrupt")) {
		l = append(l, "corrupt/"+n)
	}
	// A dotlock, or a dotlock's temporary file, beside an mbox.
	for _, s := range w.stores() {
		if s.kind != "mbox" {
			continue
		}
		for _, n := range testenv.Files(filepath.Dir(s.path)) {
			if strings.HasPrefix(n, filepath.Base(s.path)+".lock") {
				l = append(l, n)
			}
		}
	}
	return strings.Join(l, " ")
}

// journal is what a queue file says was done, read the way the outbox
// format describes it (an envelope, the message, then journal records).
type journal struct {
	sent    map[int]bool   // recipient index → delivered
	targets map[int]string // index → target of an expanded child
	held    bool           // its last hold record holds it
}

func readJournal(b []byte) journal {
	j := journal{sent: map[int]bool{}, targets: map[int]string{}}
	hdr, rest, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return j
	}
	size, nrcpt := 0, 0
	for _, l := range strings.Split(string(hdr), "\n") {
		if v, ok := strings.CutPrefix(l, "size "); ok {
			fmt.Sscan(v, &size)
		}
		if strings.HasPrefix(l, "rcpt ") {
			nrcpt++
		}
	}
	if size > len(rest) {
		return j
	}
	next := nrcpt
	for _, l := range strings.Split(string(rest[size:]), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[0] == "s":
			var idx int
			fmt.Sscan(f[1], &idx)
			j.sent[idx] = f[2] == "sent"
		case len(f) == 2 && f[0] == "h":
			j.held = f[1] == "1"
		case len(f) >= 3 && f[0] == "x":
			for k := 2; k < len(f); k += 2 {
				j.targets[next] = unpercent(f[k])
				next++
			}
		}
	}
	return j
}

func unpercent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+3], "%02X", &v); err == nil {
				b.WriteByte(v)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
