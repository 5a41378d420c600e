// Command smtp measures the agent's SMTP listener against the disk's own
// ceiling and against Postfix, in one run, with one client.
//
// It sends N messages of 1 KB to the agent on loopback TCP, over one
// connection (each message waits for its 250) and over eight connections
// at once, each with three dialogues (a reply awaited after every
// command, PIPELINING, and PIPELINING with CHUNKING over one connection:
// see dialogue), and times them until every copy is in ~/Maildir/new (looked
// for once the last 250 is in, so that no watcher wakes the bench at
// each copy on the cores the contenders share). Beside it, on the same disk, the in-process durable ceiling:
// one message at a time written to tmp/, fsynced, renamed into new/ and
// new/ fsynced, which is what one connection that waits for each 250
// cannot beat unless fsyncs are shared. Where Postfix runs on
// 127.0.0.1:2525 delivering test.invalid into a Maildir (as
// test/postfix/setup.sh sets it up), the same client drives it too.
// The disk's speed drifts, so runs are interleaved and only ratios within
// one run mean anything.
//
// Usage: go run ./test/bench/smtp [-n 1000] [-bin ./homepost] [-conns 8]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/sys/unix"

	"homepost/test/bench/benchdir"
)

func main() {
	n := flag.Int("n", 1000, "messages per run")
	bin := flag.String("bin", "./homepost", "the homepost binary")
	conns := flag.Int("conns", 8, "connections of the concurrent run")
	postfix := flag.String("postfix", "127.0.0.1:2525", "a Postfix smtpd that delivers test.invalid into -postfix-maildir")
	pmd := flag.String("postfix-maildir", "/var/spool/homepost-test/inbox", "the Maildir Postfix delivers into")
	dir := flag.String("dir", "", "work in a new directory in `DIR` and leave it there (default: one in $HOME, removed at the end; see test/bench/benchdir)")
	flag.Parse()
	if err := run(*n, *conns, *bin, *postfix, *pmd, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench smtp:", err)
		os.Exit(1)
	}
}

type result struct {
	rate     float64 // messages/s until the last copy is in new/
	acked    float64 // messages/s until the last 250
	p50, p99 time.Duration
	// The disk's write and flush requests per message, -1: unknown.
	writes, flushes float64
	// The agent's processor time a message (user and system, all its
	// threads), 0: not measured.
	cpu time.Duration
}

func (r result) String() string {
	acked := "-"
	if r.acked > 0 {
		acked = fmt.Sprintf("%.0f", r.acked)
	}
	w, fl := "-", "-"
	if r.flushes >= 0 {
		w, fl = fmt.Sprintf("%.1f", r.writes), fmt.Sprintf("%.2f", r.flushes)
	}
	cpu := "-"
	if r.cpu > 0 {
		cpu = fmt.Sprintf("%.2fms", ms(r.cpu))
	}
	return fmt.Sprintf("%9.0f %9s %7.2fms %7.2fms %7s %7s %8s", r.rate, acked, ms(r.p50), ms(r.p99), w, fl, cpu)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func summarize(lat []time.Duration, total time.Duration) result {
	slices.Sort(lat)
	r := result{rate: float64(len(lat)) / total.Seconds()}
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return r
}

// acc adds up interleaved blocks of one contender.
type acc struct {
	lat          []time.Duration
	total, acked time.Duration
	io           ioCount       // the disk's requests during the blocks
	lastIO       ioCount       // those of the last block
	unknown      bool          // the disk's counters could not be read
	cpu          time.Duration // the agent's processor time, 0: not measured
}

func (a *acc) add(lat []time.Duration, d, acked time.Duration, io ioCount, ok bool, cpu time.Duration) {
	a.lat, a.total, a.acked, a.cpu = append(a.lat, lat...), a.total+d, a.acked+acked, a.cpu+cpu
	a.io.writes += io.writes
	a.io.flushes += io.flushes
	a.lastIO = io
	a.unknown = a.unknown || !ok
}

func (a *acc) result() result {
	r := summarize(a.lat, a.total)
	r.flushes, r.writes = -1, -1
	if !a.unknown && len(a.lat) > 0 {
		r.flushes = float64(a.io.flushes) / float64(len(a.lat))
		r.writes = float64(a.io.writes) / float64(len(a.lat))
	}
	if a.acked > 0 {
		r.acked = float64(len(a.lat)) / a.acked.Seconds()
	}
	if len(a.lat) > 0 {
		r.cpu = a.cpu / time.Duration(len(a.lat))
	}
	return r
}

func run(n, conns int, bin, postfixAddr, postfixMaildir, dir string) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	// The disk the user's home is on, not a tmpfs.
	base, err := benchdir.Make(dir, ".homepost-bench-smtp")
	if err != nil {
		return err
	}
	if dir == "" {
		defer os.RemoveAll(base)
	}
	msg := message()

	ceilDir := filepath.Join(base, "ceiling")
	for _, s := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(ceilDir, s), 0o700)
	}
	h, err := startAgent(bin, base)
	if err != nil {
		return err
	}
	defer h.stop()

	pf := postfixAddr != "" && postfixUp(postfixAddr)
	if pf && !isDir(filepath.Join(postfixMaildir, "new")) {
		// Postfix makes the Maildir at its first delivery.
		p := &target{addr: postfixAddr, network: "tcp", rcpt: "bench@test.invalid", maildir: postfixMaildir}
		p.session(msg, 1)
		for i := 0; i < 200 && !isDir(filepath.Join(postfixMaildir, "new")); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		pf = isDir(filepath.Join(postfixMaildir, "new"))
	}
	fmt.Printf("homepost bench smtp: %d messages of %d bytes on %s\n", n, len(msg), base)
	if !pf {
		fmt.Printf("(no Postfix on %s delivering into %s: test/postfix/setup.sh sets one up)\n", postfixAddr, postfixMaildir)
	}
	fmt.Println()

	// Warm up.
	ceiling(ceilDir, msg, 20)
	if _, _, _, err := h.send(msg, 20, 1, lockStep); err != nil {
		return fmt.Errorf("%w\nthe agent's log:\n%s", err, h.log.String())
	}

	disk := diskOf(base)
	// measure runs one block of a contender and adds it up, with what
	// the disk did meanwhile.
	// measure runs one block of a contender and adds it up, with what
	// the disk did meanwhile and, for the agent (pid > 0), the processor
	// time it took.
	measure := func(into *acc, pid int, block func() ([]time.Duration, time.Duration, time.Duration, error)) error {
		c0, ok0 := disk.read()
		t0 := cpuTime(pid)
		lat, d, acked, err := block()
		if err != nil {
			return err
		}
		io, ok := disk.since(c0, ok0)
		var cpu time.Duration
		if t0 > 0 {
			if t1 := cpuTime(pid); t1 > t0 {
				cpu = t1 - t0
			}
		}
		into.add(lat, d, acked, io, ok, cpu)
		return nil
	}
	// Postfix's Maildir is not the bench's: its copies are removed
	// once the run is over.
	pft := &target{addr: postfixAddr, network: "tcp", rcpt: "bench@test.invalid", maildir: postfixMaildir}
	defer func() {
		for _, p := range pft.seen {
			os.Remove(p)
		}
	}()
	// The contenders of each round, in order: the ceiling, then each
	// dialogue over one connection and over conns, for homepost and for
	// Postfix.
	type row struct {
		name string
		t    *target
		k    int // connections
		d    dialogue
		a    acc
		ce   acc // the ceiling's blocks run right before this row's
	}
	var rows []*row
	for _, tg := range []struct {
		name string
		t    *target
	}{{"homepost SMTP", &h.target}, {"Postfix smtpd -> virtual Maildir", pft}} {
		if tg.t == pft && !pf {
			continue
		}
		ext := offers(tg.t.addr)
		for _, k := range []int{1, conns} {
			for _, d := range []dialogue{lockStep, pipelining, chunking} {
				if d == chunking && k > 1 {
					continue
				}
				if d != lockStep && !strings.Contains(ext, "PIPELINING") || d == chunking && !strings.Contains(ext, "CHUNKING") {
					fmt.Printf("(%s does not offer %s: not run)\n", tg.name, d)
					continue
				}
				cs := "1 connection"
				if k > 1 {
					cs = fmt.Sprintf("%d connections", k)
				}
				rows = append(rows, &row{name: fmt.Sprintf("%s, %s, %s", tg.name, cs, d), t: tg.t, k: k, d: d})
			}
		}
	}
	// Each block of a contender is paired with a block of the ceiling
	// of the same size, run right before it in even rounds and right
	// after it in odd ones: the disk's speed drifts by a factor of one
	// and a half within a minute on the machines this runs on, and a
	// contender's ratio to the ceiling is taken against the blocks run
	// beside its own (the ceiling row adds up all of them). Each block
	// begins once the last block's late work has ended (disk.settle),
	// so that neither slows the other.
	const rounds = 4
	var ce acc
	for r := range rounds {
		k := n / rounds
		if r == rounds-1 {
			k = n - k*(rounds-1)
		}
		for _, w := range rows {
			ceil := func() error {
				disk.settle()
				var lat []time.Duration
				var d time.Duration
				err := measure(&w.ce, 0, func() ([]time.Duration, time.Duration, time.Duration, error) {
					var err error
					lat, d, err = ceiling(ceilDir, msg, k)
					return lat, d, 0, err
				})
				if err == nil {
					ce.add(lat, d, 0, w.ce.lastIO, !w.ce.unknown, 0)
				}
				return err
			}
			if r%2 == 0 {
				if err := ceil(); err != nil {
					return err
				}
			}
			disk.settle()
			pid := 0
			if w.t == &h.target {
				pid = h.cmd.Process.Pid
			}
			if err := measure(&w.a, pid, func() ([]time.Duration, time.Duration, time.Duration, error) { return w.t.send(msg, k, w.k, w.d) }); err != nil {
				if w.t == pft {
					return fmt.Errorf("postfix: %w", err)
				}
				return fmt.Errorf("%w\nthe agent's log:\n%s", err, h.log.String())
			}
			if r%2 == 1 {
				if err := ceil(); err != nil {
					return err
				}
			}
		}
	}
	c := ce.result()
	const wide = 80
	fmt.Printf("%-*s %9s %9s %9s %9s %7s %7s %8s\n", wide, "1 KB messages", "msgs/s", "250s/s", "p50", "p99", "writes", "flushes", "cpu")
	fmt.Printf("%-*s %s\n", wide, "ceiling: in-process write+fsync+rename+fsync, 1 by 1", c)
	res := make(map[string]result)
	for _, w := range rows {
		res[w.name] = w.a.result()
		fmt.Printf("%-*s %s\n", wide, w.name, res[w.name])
	}
	fmt.Println("(msgs/s: until every copy is in Maildir/new; 250s/s: until the last 250;")
	fmt.Println(" p50, p99: from MAIL FROM to the 250 after the message, or one write of the ceiling;")
	fmt.Printf(" writes, flushes: the disk's write and cache-flush requests a message, from %s;\n", disk)
	fmt.Println(" cpu: the agent's processor time a message, all its threads, user and system)")
	fmt.Println()
	for _, w := range rows {
		if w.t != &h.target {
			continue
		}
		r := res[w.name]
		target := "target >= 0.70"
		if w.k > 1 {
			target = "target > 1"
		}
		cr := w.ce.result()
		line := fmt.Sprintf("%s: %.2f of the ceiling beside it, %.0f msgs/s (%s)", w.name, r.rate/cr.rate, cr.rate, target)
		if q, ok := res[strings.Replace(w.name, "homepost SMTP", "Postfix smtpd -> virtual Maildir", 1)]; ok {
			line += fmt.Sprintf(", %.2f times Postfix", r.rate/q.rate)
		}
		fmt.Println(line)
	}
	return nil
}

// cpuTime returns the processor time process pid has taken, user and
// system, all its threads (/proc/PID/stat), or 0 when unknown. Its unit
// is the clock tick (10 ms at 100 Hz): a block of a few hundred
// messages takes a few hundred ticks.
func cpuTime(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, field 2, may hold spaces: count from its end.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	// Fields 14 and 15 (utime, stime) are the 12th and 13th after ")".
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(u+st) * time.Second / clockTicks
}

// clockTicks is sysconf(_SC_CLK_TCK), 100 on Linux since 2.6.
const clockTicks = 100

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func postfixUp(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 512)
	k, _ := c.Read(b)
	c.Close()
	return bytes.Contains(b[:k], []byte("Postfix"))
}

// message is a 1 KB message.
func message() []byte {
	var b bytes.Buffer
	b.WriteString("From: bench@example.org\r\nTo: bench@example.org\r\nSubject: bench\r\nMessage-ID: <bench@example.org>\r\nDate: Wed, 2 Dec 2026 06:00:00 +0000\r\n\r\n")
	for b.Len() < 1024-2 {
		b.WriteString("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n")
	}
	// Its last line cut short, but ended with CR LF as every line.
	return append(b.Bytes()[:1024-2], "\r\n"...)
}

var seq int

// ceiling writes n messages one at a time as a durable Maildir delivery
// does: tmp/, fsync, rename into new/, fsync new/.
func ceiling(dir string, msg []byte, n int) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for range n {
		t0 := time.Now()
		seq++
		name := strconv.FormatInt(time.Now().UnixNano(), 10) + "." + strconv.Itoa(seq) + ".ceiling"
		f, err := os.OpenFile(filepath.Join(dir, "tmp", name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, 0, err
		}
		if _, err := f.Write(msg); err != nil {
			return nil, 0, err
		}
		if err := f.Sync(); err != nil {
			return nil, 0, err
		}
		f.Close()
		if err := os.Rename(filepath.Join(dir, "tmp", name), filepath.Join(dir, "new", name)); err != nil {
			return nil, 0, err
		}
		d, err := os.Open(filepath.Join(dir, "new"))
		if err != nil {
			return nil, 0, err
		}
		if err := d.Sync(); err != nil {
			return nil, 0, err
		}
		d.Close()
		lat = append(lat, time.Since(t0))
	}
	total := time.Since(start)
	// Keep new/ small, as a mail reader would (seen).
	names, _ := os.ReadDir(filepath.Join(dir, "new"))
	for _, e := range names {
		seen(dir, e.Name())
	}
	return lat, total, nil
}

// target is an SMTP server that delivers into a Maildir.
type target struct {
	network, addr, rcpt, maildir string
	seen                         []string // the copies moved to cur/, removed at the end
}

// seen moves a message from new/ to cur/ as a mail reader does once it
// has shown it, and returns its path there.
//
// Why not remove it: ext4 without a journal (the file system of the
// machines this was measured on) keeps a freed inode from reuse for a
// minute or more after its deletion, and at every file created meanwhile
// it steps over each such inode of the group one by one. Removing the
// copies of each block made every later create of the run pay for
// hundreds of them (18% of the agent's time in one profile): a
// cost of the bench, not of mail, which a reader moves to cur/ and
// deletes only now and then.
func seen(maildir, name string) string {
	p := filepath.Join(maildir, "cur", name+":2,S")
	os.Rename(filepath.Join(maildir, "new", name), p)
	return p
}

// agent is a homepost agent with its listener, in a HOME of its own.
type agent struct {
	target
	cmd *exec.Cmd
	log bytes.Buffer
}

func startAgent(bin, base string) (*agent, error) {
	home := filepath.Join(base, "home")
	rt := filepath.Join(base, "rt")
	os.MkdirAll(rt, 0o700)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	os.MkdirAll(filepath.Join(home, ".config", "homepost"), 0o700)
	cfg := fmt.Sprintf("system_aliases = \"\"\ndeliver_without_agent = false\nhostname = \"bench.example\"\n[smtp]\nlisten = [%q]\nmax_sessions = 64\n", addr)
	if err := os.WriteFile(filepath.Join(home, ".config", "homepost", "config.toml"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	for _, s := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(home, "Maildir", s), 0o700)
	}
	me, err := user.Current()
	if err != nil {
		return nil, err
	}
	a := &agent{target: target{network: "tcp", addr: addr, rcpt: me.Username + "@bench.example", maildir: filepath.Join(home, "Maildir")}}
	a.cmd = exec.Command(bin, "agent")
	a.cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_STATE_HOME=" + filepath.Join(home, ".local", "state"), "XDG_RUNTIME_DIR=" + rt}
	a.cmd.Stderr = &lockedWriter{w: &a.log}
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			a.stop()
			return nil, fmt.Errorf("the agent does not listen on %s:\n%s", addr, a.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return a, nil
}

func (a *agent) stop() {
	a.cmd.Process.Kill()
	a.cmd.Wait()
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// send delivers n messages over conns connections and waits until n
// new files are in the Maildir's new/. It returns each message's time
// from MAIL FROM to its 250, the time until the last copy arrived and
// the time until the last 250.
func (t *target) send(msg []byte, n, conns int, d dialogue) (lat []time.Duration, total, acked time.Duration, err error) {
	newDir := filepath.Join(t.maildir, "new")
	before, err := os.ReadDir(newDir)
	if err != nil {
		return nil, 0, 0, err
	}
	old := make(map[string]bool, len(before))
	for _, e := range before {
		old[e.Name()] = true
	}
	start := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		k := n / conns
		if c < n%conns {
			k++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var l []time.Duration
			var err error
			if d == lockStep {
				l, err = t.session(msg, k)
			} else {
				l, err = t.rawSession(msg, k, d)
			}
			mu.Lock()
			lat = append(lat, l...)
			mu.Unlock()
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	acked = time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return nil, 0, 0, err
	}
	// Every copy in new/: counted every 100 µs from the last 250 on (no
	// copy can be later than its message's 250).
	var buf [64 << 10]byte
	for deadline := time.Now().Add(time.Minute); ; {
		have, err := countNames(newDir, buf[:])
		if err != nil {
			return nil, 0, 0, err
		}
		if have >= len(before)+n {
			break
		}
		if time.Now().After(deadline) {
			return nil, 0, 0, fmt.Errorf("timed out waiting for %d messages in %s (%d files there)", n, newDir, have-len(before))
		}
		time.Sleep(100 * time.Microsecond)
	}
	total = time.Since(start)
	names, err := os.ReadDir(newDir)
	if err != nil {
		return nil, 0, 0, err
	}
	// Keep new/ small, as a mail reader would (seen).
	for _, e := range names {
		if !old[e.Name()] {
			t.seen = append(t.seen, seen(t.maildir, e.Name()))
		}
	}
	return lat, total, acked, nil
}

// countNames counts the names in dir but "." and "..", reading its
// entries raw into buf.
//
// Why not os.ReadDir: the wait for the last copies asks every 100 µs,
// and making a DirEntry of each of a thousand names each time is the
// bench's own work on the two cores the agent delivers those last copies
// with. Counting the raw entries costs a few system calls and no
// allocation.
func countNames(dir string, buf []byte) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	n := 0
	for {
		m, err := unix.Getdents(fd, buf)
		if err != nil {
			return 0, err
		}
		if m <= 0 {
			return n, nil
		}
		// struct linux_dirent64: ino (8), off (8), reclen (2), type (1),
		// name (NUL-terminated).
		for b := buf[:m]; len(b) >= 19; {
			reclen := int(b[16]) | int(b[17])<<8
			if reclen < 19 || reclen > len(b) {
				return 0, fmt.Errorf("read %s: bad directory entry", dir)
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if s := string(name); s != "." && s != ".." {
				n++
			}
			b = b[reclen:]
		}
	}
}

// session sends k messages over one connection, each waiting for its
// 250.
func (t *target) session(msg []byte, k int) ([]time.Duration, error) {
	c, err := smtp.Dial(t.addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Hello("bench.example"); err != nil {
		return nil, err
	}
	lat := make([]time.Duration, 0, k)
	for range k {
		t0 := time.Now()
		if err := c.Mail("bench@example.org", nil); err != nil {
			return lat, err
		}
		if err := c.Rcpt(t.rcpt, nil); err != nil {
			return lat, err
		}
		wc, err := c.Data()
		if err != nil {
			return lat, err
		}
		if _, err := wc.Write(msg); err != nil {
			return lat, err
		}
		if err := wc.Close(); err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(t0))
	}
	if err := c.Quit(); err != nil && !strings.Contains(err.Error(), "closed") {
		return lat, err
	}
	return lat, nil
}

// blockDev reads the counters of the block device a directory is on.
type blockDev string // its stat file in /sys, "" when unknown

// diskOf finds the block device of dir: /sys/dev/block/MAJ:MIN is the
// device or a partition of it; a partition's flushes are counted on the
// whole disk, whose stat file is one level up.
func diskOf(dir string) blockDev {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return ""
	}
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		sys = filepath.Join(sys, "..")
	}
	return blockDev(filepath.Join(sys, "stat"))
}

func (b blockDev) String() string {
	if b == "" {
		return "nowhere (the device is not known)"
	}
	p, err := filepath.EvalSymlinks(filepath.Dir(string(b)))
	if err != nil {
		return string(b)
	}
	return "/sys/block/" + filepath.Base(p) + "/stat"
}

// ioCount is what the device completed: write requests (after the
// block layer merged adjacent ones) and flush requests (each fsync's or
// syncfs's request to empty the disk's cache; the block layer may serve
// several waiting at once with one flush, which this does not show).
type ioCount struct{ writes, flushes int64 }

// read returns the device's counters (the 5th and 16th fields of its
// stat file; flushes are counted from Linux 5.5), ok false when unknown.
func (b blockDev) read() (c ioCount, ok bool) {
	data, err := os.ReadFile(string(b))
	if err != nil {
		return c, false
	}
	f := strings.Fields(string(data))
	if len(f) < 16 {
		return c, false
	}
	w, err1 := strconv.ParseInt(f[4], 10, 64)
	fl, err2 := strconv.ParseInt(f[15], 10, 64)
	return ioCount{w, fl}, err1 == nil && err2 == nil
}

// settle waits until the disk has had no flush request for 100 ms, at
// least 300 ms and at most 10 s. The last block's contender may still be
// at work once its last copy is in: the agent makes a batch's
// retirements durable up to 100 ms later, and Postfix removes its queue
// files and syncs for a while after its deliveries, which a fixed pause
// of 300 ms did not wait for. It took the next block's flush requests a
// message over one connection from 1.11 to 1.41 and the ratio to the
// ceiling from 0.86 to 0.70 in the first runs with Postfix beside it.
func (b blockDev) settle() {
	time.Sleep(300 * time.Millisecond)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		c0, ok0 := b.read()
		time.Sleep(100 * time.Millisecond)
		if c, ok := b.since(c0, ok0); !ok || c.flushes == 0 {
			return
		}
	}
}

// since is what the device did since c0.
func (b blockDev) since(c0 ioCount, ok0 bool) (ioCount, bool) {
	c1, ok1 := b.read()
	return ioCount{c1.writes - c0.writes, c1.flushes - c0.flushes}, ok0 && ok1
}
