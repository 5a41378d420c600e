// Command bench measures homepost's whole pipeline against the disk's own
// ceiling and against the other sendmails installed here, in one run,
// with one driver.
//
// It submits N 1 KB messages one after another with "sendmail -t -oi"
// and reports messages/s and the latency from the start of sendmail to
// the copy's arrival in the mailbox (seen with fsnotify, by a line at the
// end of each message). The pipelines, in interleaved blocks so that
// the disk's drift hits all alike:
//
//   - the floor: a C program, built here with cc, that only copies stdin
//     into tmp/, fsyncs, renames into new/ and fsyncs new/: what no
//     process-per-message durable sendmail can beat;
//   - the same floor in Go, built static as homepost is: what the Go
//     runtime's start costs before a sendmail does anything of its own;
//   - homepost: the sendmail program, with the agent running, into
//     ~/Maildir;
//   - dma (DragonFly Mail Agent) where its binary is found (-dma, or
//     dma in $PATH): it queues, then delivers into /var/mail/$USER in a
//     child it leaves behind; it needs /var/spool/dma and, if the
//     mailbox does not exist, its setuid helper (the bench creates the
//     mailbox, group mail, mode 0660, and empties it again at the end);
//   - Postfix where it runs (-postfix, default /usr/sbin/sendmail.postfix
//     or /usr/sbin/sendmail when that is Postfix's), to root@localhost
//     when that is local, into /var/mail/$USER.
//
// For each submitting program it prints, besides the times, the page
// faults (ru_minflt of the process and what it waited for, from wait4)
// and the system calls of one run (strace -f, counting the calls of the
// process's own threads, not of a child it leaves behind), and the
// package initialisers that the Go programs run (GODEBUG=inittrace=1).
// The disk's speed drifts over minutes, so only the ratios of numbers
// from the same run mean anything.
//
// Usage: go run ./test/bench [-n 1000] [-bin ./homepost] [-sendmail ./sendmail] [-dma PATH] [-postfix PATH]
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/fsnotify/fsnotify"

	"homepost/test/bench/benchdir"
)

const floorC = `#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
/* floor DIR: copy stdin to DIR/tmp/NAME, fsync, rename to DIR/new/NAME, fsync DIR/new. */
int main(int argc, char **argv) {
	char tmp[4096], dst[4096], newdir[4096], buf[65536];
	struct timeval tv; gettimeofday(&tv, 0);
	snprintf(tmp, sizeof tmp, "%s/tmp/%ld.M%ldP%d.floor", argv[1], (long)tv.tv_sec, (long)tv.tv_usec, getpid());
	snprintf(dst, sizeof dst, "%s/new/%ld.M%ldP%d.floor", argv[1], (long)tv.tv_sec, (long)tv.tv_usec, getpid());
	snprintf(newdir, sizeof newdir, "%s/new", argv[1]);
	int fd = open(tmp, O_WRONLY|O_CREAT|O_EXCL, 0600);
	if (fd < 0) return 73;
	ssize_t n;
	while ((n = read(0, buf, sizeof buf)) > 0)
		if (write(fd, buf, n) != n) return 75;
	if (fsync(fd) || close(fd)) return 75;
	if (rename(tmp, dst)) return 75;
	int d = open(newdir, O_RDONLY);
	if (d < 0 || fsync(d) || close(d)) return 75;
	return 0;
}
`

// floorGo is the same program in Go, built static as homepost is: what
// any Go sendmail pays before it does anything of its own (the runtime's
// start), so that the distance between it and homepost is the shim's own
// cost.
const floorGo = `package main

import (
	"io"
	"os"
	"strconv"
	"time"
)

func main() {
	dir := os.Args[1]
	name := strconv.FormatInt(time.Now().UnixNano(), 10) + "P" + strconv.Itoa(os.Getpid()) + ".floor"
	f, err := os.OpenFile(dir+"/tmp/"+name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		os.Exit(73)
	}
	if _, err := io.Copy(f, os.Stdin); err != nil {
		os.Exit(75)
	}
	if f.Sync() != nil || f.Close() != nil {
		os.Exit(75)
	}
	if os.Rename(dir+"/tmp/"+name, dir+"/new/"+name) != nil {
		os.Exit(75)
	}
	d, err := os.Open(dir + "/new")
	if err != nil || d.Sync() != nil {
		os.Exit(75)
	}
}
`

func main() {
	n := flag.Int("n", 1000, "messages per pipeline")
	bin := flag.String("bin", "./homepost", "the homepost binary")
	sendmail := flag.String("sendmail", "./sendmail", "the sendmail program (cmd/sendmail); \"\" runs homepost under the name sendmail")
	dma := flag.String("dma", "", "the dma binary (default: dma in $PATH, if any; \"none\" leaves it out)")
	postfix := flag.String("postfix", "", "Postfix's sendmail (default: /usr/sbin/sendmail.postfix where Postfix runs; \"none\" leaves it out)")
	dir := flag.String("dir", "", "work in a new directory in `DIR` and leave it there (default: one in $HOME, removed at the end; see test/bench/benchdir)")
	flag.Parse()
	if err := run(*n, *bin, *sendmail, *dma, *postfix, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// pipeline is one way of getting a message stored, driven one message
// after another.
type pipeline struct {
	name string
	argv []string
	env  []string
	rcpt string // the To: of its messages
	// arrivals says when each message, by its id, was seen stored; nil
	// means a message is stored when the program exits (the floors).
	arrivals *watch
	// file is where the copies land; emptied again at the end when the
	// bench created it (an mbox in /var/mail).
	lat, exits []time.Duration
	// after is each message's time from its program's exit to its copy
	// in the mailbox: the delivery's own part of the latency.
	after    []time.Duration
	total    time.Duration
	minflt   []int64
	syscalls int   // of one run under strace, -1 unknown
	inits    int   // package initialisers, -1 not a Go program
	skip     error // why it is not run
}

func run(n int, bin, sendmail, dmaBin, postfixBin, dir string) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	// Work on the disk the user's home is on, not a tmpfs.
	base, err := benchdir.Make(dir, ".homepost-bench")
	if err != nil {
		return err
	}
	if dir == "" {
		defer os.RemoveAll(base)
	}

	floor, err := buildFloor(base)
	if err != nil {
		return err
	}
	gofloor, err := buildGoFloor(base)
	if err != nil {
		return err
	}
	fdir := filepath.Join(base, "floorbox")
	for _, s := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(fdir, s), 0o700)
	}
	home := filepath.Join(base, "home")
	os.MkdirAll(filepath.Join(home, ".config", "homepost"), 0o700)
	os.WriteFile(filepath.Join(home, ".config", "homepost", "config.toml"),
		[]byte("system_aliases = \"\"\ndeliver_without_agent = false\n"), 0o600)
	env := []string{"HOME=" + home, "PATH=/usr/bin:/bin", "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_STATE_HOME=" + filepath.Join(home, ".local", "state")}
	for _, s := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(home, "Maildir", s), 0o700)
	}
	// Install as make install does (fresh copies side by side), so that
	// every program runs from files just written on the same disk.
	installed := filepath.Join(base, "homepost")
	if err := copyFile(bin, installed); err != nil {
		return err
	}
	link := filepath.Join(base, "sendmail")
	if sendmail != "" {
		if err := copyFile(sendmail, link); err != nil {
			return err
		}
	} else if err := os.Symlink(installed, link); err != nil {
		return err
	}

	maildir, err := newWatch(filepath.Join(home, "Maildir", "new"), false)
	if err != nil {
		return err
	}
	defer maildir.close()
	pipes := []*pipeline{
		{name: "floor: C tmp+fsync+rename+fsync", argv: []string{floor, fdir}, inits: -1},
		{name: "the same floor as a static Go program", argv: []string{gofloor, fdir}},
		{name: "homepost: sendmail -> agent -> ~/Maildir", argv: []string{link, "-t", "-oi"}, env: env, rcpt: "root", arrivals: maildir},
	}
	var mbox *watch
	var restore func()
	peers := peerPipelines(dmaBin, postfixBin)
	if len(peers) > 0 {
		mbox, restore, err = watchSystemMbox()
		if err != nil {
			for _, p := range peers {
				p.skip = err
			}
		}
		for _, p := range peers {
			p.arrivals = mbox
		}
		if restore != nil {
			defer restore()
		}
		if mbox != nil {
			defer mbox.close()
		}
		pipes = append(pipes, peers...)
	}

	fmt.Printf("homepost bench: %d messages of 1 KB per pipeline, one after another, on %s\n", n, base)
	fmt.Printf("%s\n\n", machine())
	for _, p := range pipes {
		if p.skip != nil {
			fmt.Printf("(%s: not run: %v)\n", p.name, p.skip)
		}
	}

	if err := processStart(base, installed, link, env); err != nil {
		return err
	}

	agent, alog, err := startAgent(installed, env)
	if err != nil {
		return err
	}
	defer func() { agent.Process.Kill(); agent.Wait() }()

	// Warm up the page cache and the binaries; check every pipeline
	// stores a message at all.
	for _, p := range pipes {
		if p.skip != nil {
			continue
		}
		for i := range 5 {
			if _, _, err := p.send(fmt.Sprintf("warm-%d", i)); err != nil {
				p.skip = err
				fmt.Printf("(%s: not run: %v)\n", p.name, err)
				break
			}
		}
		if p.skip == nil {
			p.wait(60*time.Second, alog)
		}
	}
	// Interleave blocks of all, so that the disk's drift hits all alike.
	const rounds = 10
	for r := range rounds {
		k := n / rounds
		if r == rounds-1 {
			k = n - k*(rounds-1)
		}
		for _, p := range pipes {
			if p.skip != nil {
				continue
			}
			if err := p.block(r, k, alog); err != nil {
				return fmt.Errorf("%s: %v", p.name, err)
			}
		}
	}
	for _, p := range pipes {
		if p.skip == nil {
			p.syscalls = p.countSyscalls()
			if p.inits == 0 {
				p.inits = p.countInits()
			}
		}
	}

	fmt.Printf("%-44s %8s %8s %8s %9s %9s %7s %7s %6s\n", fmt.Sprintf("%d x 1 KB, one after another", n), "msgs/s", "p50", "p99", "exit p50", "after p50", "faults", "calls", "inits")
	res := map[string]result{}
	for _, p := range pipes {
		if p.skip != nil {
			continue
		}
		r := summarize(p.lat, p.total)
		ex := summarize(p.exits, p.total)
		res[p.name] = r
		slices.Sort(p.minflt)
		calls, inits := "n/a", ""
		if p.syscalls >= 0 {
			calls = strconv.Itoa(p.syscalls)
		}
		if p.inits >= 0 {
			inits = strconv.Itoa(p.inits)
		}
		after := "-"
		if len(p.after) > 0 {
			after = fmt.Sprintf("%.2fms", ms(summarize(p.after, p.total).p50))
		}
		fmt.Printf("%-44s %8.0f %6.2fms %6.2fms %7.2fms %9s %7d %7s %6s\n", p.name, r.rate, ms(r.p50), ms(r.p99), ms(ex.p50),
			after, p.minflt[len(p.minflt)/2], calls, inits)
	}
	fmt.Printf("\n(exit p50: the submitting program until it exits; after p50: from its exit to the copy in the mailbox, message by message; faults: its median ru_minflt; calls: its system calls in one run under strace; inits: package initialisers run)\n")
	fl, gf, hp := pipes[0], pipes[1], pipes[2]
	fmt.Printf("\nGo floor / C floor: %.2f (the Go runtime's start alone)\n", res[gf.name].rate/res[fl.name].rate)
	fmt.Printf("homepost end to end / Go floor: %.2f (target >= 0.80)\n", res[hp.name].rate/res[gf.name].rate)
	fmt.Printf("sendmail's page faults / Go floor's: %.2f (target <= 1.20)\n",
		float64(median(hp.minflt))/float64(median(gf.minflt)))
	for _, p := range pipes[3:] {
		if p.skip != nil {
			continue
		}
		fmt.Printf("homepost / %s: %.2f in msgs/s, p50 %.2f ms against %.2f ms (target: ahead in both)\n",
			strings.TrimSuffix(strings.Fields(p.name)[0], ":"), res[hp.name].rate/res[p.name].rate, ms(res[hp.name].p50), ms(res[p.name].p50))
	}
	return benchRelay(installed, base, message("x", "someone@remote.example"), n)
}

func median(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// machine describes what a process start costs here: the cores, the
// load, and the kernel.
func machine() string {
	load, _ := os.ReadFile("/proc/loadavg")
	var un syscall.Utsname
	syscall.Uname(&un)
	rel := func(a [65]int8) string {
		b := make([]byte, 0, len(a))
		for _, c := range a {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		return string(b)
	}
	f := strings.Fields(string(load))
	if len(f) > 3 {
		f = f[:3]
	}
	return fmt.Sprintf("machine: %d CPUs, load %s, Linux %s", numCPU(), strings.Join(f, " "), rel(un.Release))
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return bytes.Count(b, []byte("\nprocessor")) + bytes.Count(b[:min(len(b), 10)], []byte("processor"))
}

// processStart prints what starting a program costs here, before any
// work: an empty C program, an empty static Go program, homepost
// --version and sendmail --help (200 runs each, interleaved).
func processStart(base, homepost, sendmail string, env []string) error {
	cdir := filepath.Join(base, "hello")
	os.MkdirAll(cdir, 0o700)
	os.WriteFile(filepath.Join(cdir, "hello.c"), []byte("int main(void) { return 0; }\n"), 0o600)
	if out, err := exec.Command("cc", "-O2", "-o", filepath.Join(cdir, "hello-c"), filepath.Join(cdir, "hello.c")).CombinedOutput(); err != nil {
		return fmt.Errorf("cc: %v %s", err, out)
	}
	os.WriteFile(filepath.Join(cdir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o600)
	os.WriteFile(filepath.Join(cdir, "go.mod"), []byte("module hello\n\ngo 1.26\n"), 0o600)
	c := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", "hello-go", ".")
	c.Dir = cdir
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("go build (hello): %v %s", err, out)
	}
	progs := [][]string{{filepath.Join(cdir, "hello-c")}, {filepath.Join(cdir, "hello-go")}, {homepost, "--version"}, {sendmail, "--help"}}
	names := []string{"empty C program", "empty static Go program", "homepost --version", "sendmail --help"}
	lat := make([][]time.Duration, len(progs))
	flt := make([][]int64, len(progs))
	for range 200 {
		for i, argv := range progs {
			c := exec.Command(argv[0], argv[1:]...)
			c.Env = env
			t0 := time.Now()
			if err := c.Run(); err != nil {
				return fmt.Errorf("%s: %v", names[i], err)
			}
			lat[i] = append(lat[i], time.Since(t0))
			flt[i] = append(flt[i], c.ProcessState.SysUsage().(*syscall.Rusage).Minflt)
		}
	}
	fmt.Printf("process start here (200 runs each, p50):")
	for i := range progs {
		r := summarize(lat[i], time.Second)
		fmt.Printf(" %s %.2f ms, %d faults;", names[i], ms(r.p50), median(flt[i]))
	}
	fmt.Printf("\n\n")
	return nil
}

// peerPipelines are the other sendmails found here.
func peerPipelines(dmaBin, postfixBin string) []*pipeline {
	var out []*pipeline
	if dmaBin == "" {
		dmaBin, _ = exec.LookPath("dma")
	}
	if dmaBin != "" && dmaBin != "none" {
		p := &pipeline{name: "dma: sendmail -> /var/mail (mbox)", argv: []string{dmaBin, "-t", "-oi"}, rcpt: currentUser(), inits: -1}
		if st, err := os.Stat("/var/spool/dma"); err != nil || !st.IsDir() {
			p.skip = fmt.Errorf("no /var/spool/dma (create it, group mail, mode 0770)")
		}
		out = append(out, p)
	}
	if postfixBin == "" {
		for _, c := range []string{"/usr/sbin/sendmail.postfix", "/usr/sbin/sendmail"} {
			if b, err := os.ReadFile(c); err == nil && bytes.Contains(b, []byte("postdrop")) {
				postfixBin = c
				break
			}
		}
	}
	if postfixBin != "" && postfixBin != "none" {
		p := &pipeline{name: "Postfix: sendmail -> /var/mail (mbox)", argv: []string{postfixBin, "-t", "-oi"}, rcpt: currentUser() + "@localhost", inits: -1}
		if exec.Command("pgrep", "-x", "master").Run() != nil {
			p.skip = fmt.Errorf("Postfix's master does not run")
		} else if out, err := exec.Command("postconf", "-h", "mydestination").Output(); err != nil || !bytes.Contains(out, []byte("localhost")) {
			p.skip = fmt.Errorf("localhost is not in Postfix's mydestination")
		}
		out = append(out, p)
	}
	return out
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// watchSystemMbox watches /var/mail/$USER, creating it for the peers
// (group mail, mode 0660, as their helpers do) if it is missing; restore
// puts it back as it was.
func watchSystemMbox() (*watch, func(), error) {
	path := filepath.Join("/var/mail", currentUser())
	st, err := os.Stat(path)
	var restore func()
	switch {
	case err == nil:
		size := st.Size()
		restore = func() { os.Truncate(path, size) }
	case os.IsNotExist(err):
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o660)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot create %s: %v", path, err)
		}
		f.Close()
		if g, err := user.LookupGroup("mail"); err == nil {
			gid, _ := strconv.Atoi(g.Gid)
			os.Chown(path, os.Getuid(), gid)
		}
		os.Chmod(path, 0o660)
		restore = func() { os.Remove(path) }
	default:
		return nil, nil, err
	}
	w, err := newWatch(path, true)
	if err != nil {
		restore()
		return nil, nil, err
	}
	return w, restore, nil
}

// message is a 1 KB message whose last line names it.
func message(id, rcpt string) []byte {
	var b bytes.Buffer
	b.WriteString("From: bench@example.org\nTo: " + rcpt + "\nSubject: bench\n\n")
	trailer := "bench-message-id: " + id + "\n"
	for b.Len() < 1024-len(trailer)-45 {
		b.WriteString("All work and no play makes Jack a dull boy. ")
	}
	b.WriteString("\n" + trailer)
	return b.Bytes()
}

// send runs the pipeline's program once with message id.
func (p *pipeline) send(id string) (time.Time, time.Duration, error) {
	c := exec.Command(p.argv[0], p.argv[1:]...)
	c.Env = p.env
	c.Stdin = bytes.NewReader(message(id, p.rcpt))
	if p.arrivals != nil {
		p.arrivals.expect(id)
	}
	t0 := time.Now()
	out, err := c.CombinedOutput()
	d := time.Since(t0)
	if err != nil {
		return t0, d, fmt.Errorf("%v %s", err, out)
	}
	p.minflt = append(p.minflt, c.ProcessState.SysUsage().(*syscall.Rusage).Minflt)
	return t0, d, nil
}

// block sends k messages one after another and waits for their copies.
func (p *pipeline) block(round, k int, alog *lockedBuffer) error {
	started := map[string]time.Time{}
	exited := map[string]time.Time{}
	start := time.Now()
	var last time.Time
	for i := range k {
		id := fmt.Sprintf("%d-%d", round, i)
		t0, d, err := p.send(id)
		if err != nil {
			return err
		}
		p.exits = append(p.exits, d)
		if p.arrivals == nil {
			p.lat = append(p.lat, d)
			last = t0.Add(d)
			continue
		}
		started[id], exited[id] = t0, t0.Add(d)
	}
	if p.arrivals != nil {
		arrived, err := p.wait(60*time.Second, alog)
		if err != nil {
			return err
		}
		for id, t0 := range started {
			t1 := arrived[id]
			p.lat = append(p.lat, t1.Sub(t0))
			p.after = append(p.after, max(0, t1.Sub(exited[id])))
			if t1.After(last) {
				last = t1
			}
		}
	}
	p.total += last.Sub(start)
	return nil
}

// wait waits until every expected message is stored and returns when
// each was.
func (p *pipeline) wait(limit time.Duration, alog *lockedBuffer) (map[string]time.Time, error) {
	if p.arrivals == nil {
		return nil, nil
	}
	got, missing := p.arrivals.waitAll(limit)
	if missing > 0 {
		return nil, fmt.Errorf("%d messages did not arrive within %v; agent log:\n%s", missing, limit, alog.String())
	}
	return got, nil
}

// countSyscalls runs the program once under strace -f and counts the
// system calls of its own threads (a child it forks, as dma's delivery,
// is left out; one it waits for, as Postfix's postdrop, too).
func (p *pipeline) countSyscalls() int {
	if _, err := exec.LookPath("strace"); err != nil {
		return -1
	}
	out := filepath.Join(os.TempDir(), fmt.Sprintf("bench-strace-%d", os.Getpid()))
	defer os.Remove(out)
	argv := append([]string{"-f", "-qq", "-o", out}, p.argv...)
	c := exec.Command("strace", argv...)
	c.Env = p.env
	id := "strace"
	c.Stdin = bytes.NewReader(message(id, p.rcpt))
	if p.arrivals != nil {
		p.arrivals.expect(id)
	}
	if err := c.Run(); err != nil {
		return -1
	}
	if p.arrivals != nil {
		p.arrivals.waitAll(30 * time.Second)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return -1
	}
	return countOwnCalls(b)
}

var straceLine = regexp.MustCompile(`^(\d+) +(\w+)\(`)
var resumed = regexp.MustCompile(`^(\d+) +<\.\.\. (\w+) resumed>(.*)= (\d+)`)

// countOwnCalls counts the calls in strace -f output made by the first
// process and the threads it starts (clone with CLONE_THREAD).
func countOwnCalls(trace []byte) int {
	own := map[string]bool{}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(trace))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := straceLine.FindStringSubmatch(line); m != nil {
			if len(own) == 0 {
				own[m[1]] = true
			}
			if !own[m[1]] {
				continue
			}
			n++
			if (m[2] == "clone" || m[2] == "clone3") && strings.Contains(line, "CLONE_THREAD") {
				if i := strings.LastIndex(line, "= "); i >= 0 && !strings.Contains(line, "unfinished") {
					own[strings.Fields(line[i+2:])[0]] = true
				}
			}
			continue
		}
		if m := resumed.FindStringSubmatch(line); m != nil && own[m[1]] && (m[2] == "clone" || m[2] == "clone3") {
			// The thread flag is on the unfinished half; threads
			// are what the Go runtime clones.
			own[m[4]] = true
		}
	}
	return n
}

// countInits runs a Go program once with GODEBUG=inittrace=1.
func (p *pipeline) countInits() int {
	c := exec.Command(p.argv[0], p.argv[1:]...)
	c.Env = append(slices.Clone(p.env), "GODEBUG=inittrace=1")
	if p.env == nil {
		c.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	}
	id := "inittrace"
	c.Stdin = bytes.NewReader(message(id, p.rcpt))
	if p.arrivals != nil {
		p.arrivals.expect(id)
	}
	out, _ := c.CombinedOutput()
	if p.arrivals != nil {
		p.arrivals.waitAll(30 * time.Second)
	}
	return bytes.Count(out, []byte("init "))
}

// watch records when each message, by the id on its last line, is seen
// stored: a file created in a Maildir's new/, or the end of a message
// appended to an mbox.
type watch struct {
	w      *fsnotify.Watcher
	path   string
	mbox   bool
	off    int64
	mu     sync.Mutex
	want   map[string]bool
	seen   map[string]time.Time
	notify chan struct{}
}

var idLine = regexp.MustCompile(`(?m)^bench-message-id: (\S+)\n`)

func newWatch(path string, mbox bool) (*watch, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := w.Add(path); err != nil {
		w.Close()
		return nil, err
	}
	x := &watch{w: w, path: path, mbox: mbox, want: map[string]bool{}, seen: map[string]time.Time{}, notify: make(chan struct{}, 1)}
	if mbox {
		if st, err := os.Stat(path); err == nil {
			x.off = st.Size()
		}
	}
	go x.loop()
	return x, nil
}

func (x *watch) loop() {
	for ev := range x.w.Events {
		now := time.Now()
		var data []byte
		if x.mbox {
			if ev.Op&fsnotify.Write == 0 {
				continue
			}
			f, err := os.Open(x.path)
			if err != nil {
				continue
			}
			st, _ := f.Stat()
			if st != nil && st.Size() < x.off {
				x.off = 0 // emptied
			}
			data, _ = io.ReadAll(io.NewSectionReader(f, x.off, 1<<30))
			f.Close()
			// Only whole lines: the rest is read again next time.
			if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
				data = data[:i+1]
			} else {
				data = nil
			}
			x.off += int64(len(data))
		} else {
			if ev.Op&(fsnotify.Create|fsnotify.Rename) == 0 {
				continue
			}
			data, _ = os.ReadFile(ev.Name)
		}
		x.mu.Lock()
		for _, m := range idLine.FindAllSubmatch(data, -1) {
			if _, dup := x.seen[string(m[1])]; !dup {
				x.seen[string(m[1])] = now
			}
		}
		x.mu.Unlock()
		select {
		case x.notify <- struct{}{}:
		default:
		}
	}
}

func (x *watch) expect(id string) {
	x.mu.Lock()
	x.want[id] = true
	x.mu.Unlock()
}

// waitAll waits for every expected id, then forgets them.
func (x *watch) waitAll(limit time.Duration) (map[string]time.Time, int) {
	deadline := time.After(limit)
	for {
		x.mu.Lock()
		missing := 0
		for id := range x.want {
			if _, ok := x.seen[id]; !ok {
				missing++
			}
		}
		if missing == 0 {
			got := map[string]time.Time{}
			for id := range x.want {
				got[id] = x.seen[id]
				delete(x.seen, id)
			}
			x.want = map[string]bool{}
			x.mu.Unlock()
			return got, 0
		}
		x.mu.Unlock()
		select {
		case <-x.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			x.mu.Lock()
			x.want = map[string]bool{}
			x.mu.Unlock()
			return nil, missing
		}
	}
}

func (x *watch) close() { x.w.Close() }

// lockedBuffer collects the agent's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startAgent(bin string, env []string) (*exec.Cmd, *lockedBuffer, error) {
	c := exec.Command(bin, "agent")
	c.Env = env
	log := &lockedBuffer{}
	c.Stderr = log
	if err := c.Start(); err != nil {
		return nil, nil, err
	}
	time.Sleep(300 * time.Millisecond)
	return c, log, nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

type result struct {
	rate     float64
	p50, p99 time.Duration
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func summarize(lat []time.Duration, total time.Duration) result {
	lat = slices.Clone(lat)
	slices.Sort(lat)
	return result{rate: float64(len(lat)) / total.Seconds(), p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}
}

func buildFloor(dir string) (string, error) {
	src := filepath.Join(dir, "floor.c")
	bin := filepath.Join(dir, "floor")
	os.WriteFile(src, []byte(floorC), 0o600)
	if out, err := exec.Command("cc", "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("cc: %v %s", err, out)
	}
	return bin, nil
}

func buildGoFloor(dir string) (string, error) {
	src := filepath.Join(dir, "gofloor")
	os.MkdirAll(src, 0o700)
	os.WriteFile(filepath.Join(src, "main.go"), []byte(floorGo), 0o600)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module gofloor\n\ngo 1.26\n"), 0o600)
	bin := filepath.Join(dir, "gofloor-bin")
	c := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	c.Dir = src
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := c.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build (Go floor): %v %s", err, out)
	}
	return bin, nil
}

// sink is a loopback smarthost that counts connections and messages.
type sink struct {
	mu          sync.Mutex
	conns, msgs int
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	return &sinkSession{s}, nil
}

type sinkSession struct{ s *sink }

func (x *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x *sinkSession) Reset()                               {}
func (x *sinkSession) Logout() error                        { return nil }
func (x *sinkSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	x.s.mu.Lock()
	x.s.msgs++
	x.s.mu.Unlock()
	return nil
}

// benchRelay queues n messages for a remote address, then times one
// "homepost agent --once" that hands them all to a loopback smarthost:
// the queue must share connections, not open one per message.
func benchRelay(bin, base string, msg []byte, n int) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sk := &sink{}
	srv := smtp.NewServer(sk)
	srv.Domain = "sink.test"
	go srv.Serve(l)
	defer srv.Close()
	home := filepath.Join(base, "relayhome")
	os.MkdirAll(filepath.Join(home, ".config", "homepost"), 0o700)
	os.WriteFile(filepath.Join(home, ".config", "homepost", "config.toml"), []byte(fmt.Sprintf(
		"system_aliases = \"\"\ndeliver_without_agent = false\n[relay]\nurl = \"smtp://%s\"\n", l.Addr())), 0o600)
	env := []string{"HOME=" + home, "PATH=/usr/bin:/bin", "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_STATE_HOME=" + filepath.Join(home, ".local", "state")}
	for range n {
		c := exec.Command(bin, "sendmail", "-i", "someone@remote.example")
		c.Env, c.Stdin = env, bytes.NewReader(msg)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("sendmail: %v %s", err, out)
		}
	}
	start := time.Now()
	c := exec.Command(bin, "agent", "--once")
	c.Env = env
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("agent --once: %v %s", err, out)
	}
	d := time.Since(start)
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.msgs != n {
		return fmt.Errorf("smarthost got %d of %d messages", sk.msgs, n)
	}
	fmt.Printf("\nsmarthost: %d queued messages through one agent run: %.0f msgs/s over %d connection(s)\n",
		n, float64(n)/d.Seconds(), sk.conns)
	return nil
}
