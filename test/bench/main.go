// Command bench measures homepost's whole pipeline against the disk's own
// ceiling, in one run, with one driver.
//
// It submits N 1 KB messages one after another through the sendmail shim
// with the agent running, and reports end-to-end messages/s and the
// latency from shim start to the copy's arrival in ~/Maildir/new (seen
// with fsnotify). Next to it, the floor: a minimal C program, built here
// with cc, that only copies stdin into tmp/, fsyncs, renames into new/
// and fsyncs new/ — what no process-per-message durable sendmail can
// beat. The disk's speed drifts over minutes, so only the ratio of two
// numbers from the same run means anything.
//
// Usage: go run ./test/bench [-n 1000] [-bin ./homepost]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/fsnotify/fsnotify"
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
	n := flag.Int("n", 1000, "messages per run")
	bin := flag.String("bin", "./homepost", "the homepost binary")
	flag.Parse()
	if err := run(*n, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n int, bin string) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	// Work on the disk the user's home is on, not a tmpfs.
	base, err := os.MkdirTemp(os.Getenv("HOME"), ".homepost-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	msg := message()

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
	os.MkdirAll(filepath.Join(home, "Maildir", "new"), 0o700)
	for _, s := range []string{"tmp", "cur"} {
		os.MkdirAll(filepath.Join(home, "Maildir", s), 0o700)
	}
	// Install the binary as make install does (a fresh copy, and a
	// sendmail link to it), so that both programs run from files just
	// written on the same disk.
	installed := filepath.Join(base, "homepost")
	if err := copyFile(bin, installed); err != nil {
		return err
	}
	bin = installed
	link := filepath.Join(base, "sendmail")
	if err := os.Symlink(bin, link); err != nil {
		return err
	}

	fmt.Printf("homepost bench: %d messages of %d bytes, one after another, on %s\n\n", n, len(msg), base)

	// Warm up the page cache and the binaries.
	for range 20 {
		exec.Command(floor, fdir).Run()
		exec.Command(gofloor, fdir).Run()
	}
	// Interleave blocks of both, so that the disk's drift hits both
	// alike.
	const rounds = 10
	var flLat, gfLat, hpLat []time.Duration
	var flTime, gfTime, hpTime time.Duration
	h, err := startHomepost(bin, env, home)
	if err != nil {
		return err
	}
	defer h.stop()
	for r := range rounds {
		k := n / rounds
		if r == rounds-1 {
			k = n - k*(rounds-1)
		}
		lat, d, err := runFloor(floor, fdir, msg, k)
		if err != nil {
			return err
		}
		flLat, flTime = append(flLat, lat...), flTime+d
		lat, d, err = runFloor(gofloor, fdir, msg, k)
		if err != nil {
			return err
		}
		gfLat, gfTime = append(gfLat, lat...), gfTime+d
		lat, d, err = h.run(link, msg, k)
		if err != nil {
			return err
		}
		hpLat, hpTime = append(hpLat, lat...), hpTime+d
	}
	fl, gf, hp := summarize(flLat, flTime), summarize(gfLat, gfTime), summarize(hpLat, hpTime)
	fmt.Printf("%-44s %9s %9s %9s\n", "", "msgs/s", "p50", "p99")
	fl.print("floor: C tmp+fsync+rename+fsync")
	gf.print("the same floor as a static Go program")
	hp.print("homepost: sendmail -> agent -> ~/Maildir")
	ex := summarize(h.exits, hpTime)
	fmt.Printf("%-44s %9s %7.2fms %7.2fms\n", "  of which sendmail until it exits", "", ms(ex.p50), ms(ex.p99))
	fmt.Printf("\nhomepost end to end / floor: %.2f (target >= 0.60); p50 %.2f ms (target < 3 ms)\n",
		hp.rate/fl.rate, ms(hp.p50))
	fmt.Printf("Go floor / C floor: %.2f (the Go runtime's start alone); homepost / Go floor: %.2f\n",
		gf.rate/fl.rate, hp.rate/gf.rate)
	return benchRelay(bin, base, msg, n)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

func message() []byte {
	var b bytes.Buffer
	b.WriteString("From: bench@example.org\nTo: root\nSubject: bench\n\n")
	for b.Len() < 1023 {
		b.WriteString("All work and no play makes Jack a dull boy. ")
	}
	out := b.Bytes()[:1023]
	return append(out, '\n')
}

type result struct {
	rate     float64
	p50, p99 time.Duration
}

func (r result) print(name string) {
	fmt.Printf("%-44s %9.0f %7.2fms %7.2fms\n", name, r.rate, ms(r.p50), ms(r.p99))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func summarize(lat []time.Duration, total time.Duration) result {
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

func runFloor(floor, dir string, msg []byte, n int) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for range n {
		t0 := time.Now()
		c := exec.Command(floor, dir)
		c.Stdin = bytes.NewReader(msg)
		if err := c.Run(); err != nil {
			return nil, 0, fmt.Errorf("floor: %v", err)
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, time.Since(start), nil
}

// homepost is a running agent and a watch on ~/Maildir/new.
type homepost struct {
	agent *exec.Cmd
	alog  *bytes.Buffer
	w     *fsnotify.Watcher
	env   []string

	exits []time.Duration // shim start to its exit

	mu      sync.Mutex
	arrived map[string]time.Time
	notify  chan struct{}
}

func startHomepost(bin string, env []string, home string) (*homepost, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := w.Add(filepath.Join(home, "Maildir", "new")); err != nil {
		return nil, err
	}
	h := &homepost{w: w, env: env, alog: &bytes.Buffer{}, arrived: map[string]time.Time{}, notify: make(chan struct{}, 1)}
	h.agent = exec.Command(bin, "agent")
	h.agent.Env = env
	h.agent.Stderr = h.alog
	if err := h.agent.Start(); err != nil {
		return nil, err
	}
	time.Sleep(300 * time.Millisecond)
	go func() {
		for ev := range w.Events {
			if ev.Op&(fsnotify.Create|fsnotify.Rename) == 0 {
				continue
			}
			now := time.Now()
			// The copy's name holds the queue ID: SEC.<ID>R<n>.HOST
			_, rest, _ := strings.Cut(filepath.Base(ev.Name), ".")
			id, _, _ := strings.Cut(rest, ".")
			if i := strings.LastIndexByte(id, 'R'); i > 0 {
				id = id[:i]
			}
			h.mu.Lock()
			h.arrived[id] = now
			h.mu.Unlock()
			select {
			case h.notify <- struct{}{}:
			default:
			}
		}
	}()
	return h, nil
}

func (h *homepost) stop() {
	h.agent.Process.Kill()
	h.agent.Wait()
	h.w.Close()
}

// run submits n messages through the shim, one after another, and times
// each from shim start to its copy in ~/Maildir/new.
func (h *homepost) run(sendmail string, msg []byte, n int) ([]time.Duration, time.Duration, error) {
	started := map[string]time.Time{}
	// sendmail -v prints the queue ID, which names the copy. It goes to
	// a file, not a pipe: the floor has no output to collect either.
	errf, err := os.CreateTemp("", "bench-stderr")
	if err != nil {
		return nil, 0, err
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	start := time.Now()
	for range n {
		if err := errf.Truncate(0); err != nil {
			return nil, 0, err
		}
		errf.Seek(0, io.SeekStart)
		t0 := time.Now()
		c := exec.Command(sendmail, "-v", "-i", "root")
		c.Env = h.env
		c.Stdin = bytes.NewReader(msg)
		c.Stderr = errf
		err := c.Run()
		h.exits = append(h.exits, time.Since(t0))
		out, _ := os.ReadFile(errf.Name())
		if err != nil {
			return nil, 0, fmt.Errorf("sendmail: %v %s", err, out)
		}
		id := strings.TrimSpace(strings.TrimPrefix(string(out), "homepost: queued as "))
		started[id] = t0
	}
	deadline := time.After(60 * time.Second)
	for {
		h.mu.Lock()
		all := true
		for id := range started {
			if _, ok := h.arrived[id]; !ok {
				all = false
				break
			}
		}
		h.mu.Unlock()
		if all {
			break
		}
		select {
		case <-h.notify:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			return nil, 0, fmt.Errorf("not every message arrived; agent log:\n%s", h.alog.String())
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var last time.Time
	lat := make([]time.Duration, 0, n)
	for id, t0 := range started {
		t1 := h.arrived[id]
		lat = append(lat, t1.Sub(t0))
		if t1.After(last) {
			last = t1
		}
	}
	return lat, last.Sub(start), nil
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
