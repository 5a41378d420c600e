package mailx

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fixtureMessage returns a plausible message: a dozen header fields and
// a body of varying length (0.5 to 4 KiB), some with a "From " line that
// mboxrd quotes.
func fixtureMessage(i int) (header, body string) {
	header = fmt.Sprintf("Return-Path: <sender%d@example.org>\n"+
		"Received: from mx.example.org by host.example.net with ESMTP id %08x; Sat, 2 Jan 2021 08:50:00 +0000\n"+
		"From: Sender Number %d <sender%d@example.org>\n"+
		"To: user@example.net\n"+
		"Subject: Report %d: =?utf-8?q?r=C3=A9sum=C3=A9?= of the day\n"+
		"Date: Sat, 2 Jan 2021 08:%02d:00 +0000\n"+
		"Message-ID: <%d.%08x@example.org>\n"+
		"MIME-Version: 1.0\n"+
		"Content-Type: text/plain; charset=utf-8\n"+
		"Content-Transfer-Encoding: 8bit\n"+
		"X-Mailer: fixture\n\n", i%97, i, i%97, i%97, i, i%60, i, i*7919)
	var b strings.Builder
	lines := 8 + (i*37)%60
	for l := 0; l < lines; l++ {
		if l == 3 && i%5 == 0 {
			b.WriteString("From the fixture generator, a line mboxrd quotes.\n")
			continue
		}
		fmt.Fprintf(&b, "Line %d of message %d: the quick brown fox jumps over the lazy dog.\n", l, i)
	}
	return header, b.String()
}

// buildMaildir writes n messages into new/ and cur/ of a Maildir. It
// writes the files directly: 100,000 fsynced deliveries would take
// minutes and measure the disk, not the reader.
func buildMaildir(tb testing.TB, dir string, n int) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		h, body := fixtureMessage(i)
		name := fmt.Sprintf("%d.M%dP1Q%d.fixture", 1609577400+i, i, i)
		path := filepath.Join(dir, "new", name)
		if i%3 != 0 {
			path = filepath.Join(dir, "cur", name+":2,S")
		}
		if err := os.WriteFile(path, []byte(h+body), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

// buildMbox writes n messages as an mboxrd file, as Mbox.Append would,
// in one buffered pass for the same reason.
func buildMbox(tb testing.TB, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := 0; i < n; i++ {
		h, body := fixtureMessage(i)
		fmt.Fprintf(w, "From sender%d@example.org Sat Jan  2 08:%02d:00 2021\n", i%97, i%60)
		w.WriteString(h)
		if i%2 == 0 {
			w.WriteString("Status: RO\n")
		}
		w.WriteString(strings.ReplaceAll(body, "\nFrom ", "\n>From "))
		w.WriteString("\n")
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// listSummary opens a mailbox and formats its whole header summary, as
// mail -H does.
func listSummary(tb testing.TB, kind, path string, w io.Writer) int {
	box, err := openBox(kind, path, false)
	if err != nil {
		tb.Fatal(err)
	}
	defer box.Close()
	bw := bufio.NewWriterSize(w, 64<<10)
	writeSummary(bw, box.Msgs, 0, 100)
	bw.Flush()
	return len(box.Msgs)
}

// keptMB is the heap that an open mailbox holds (its summaries), in MB.
func keptMB(tb testing.TB, kind, path string) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	box, err := openBox(kind, path, false)
	if err != nil {
		tb.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	box.Close()
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / 1e6
}

// BenchmarkSummary times the header summary of Maildirs and mboxes of
// 20,000 and 100,000 messages: in process as a read-mode session lists
// it (with MB-kept, the heap its summaries hold), through the built
// binary as mail -H, and s-nail -H on the same mailboxes when s-nail is
// installed (both with MB-maxrss, the largest resident memory of a
// run).
// Run it with: go test -run XXX -bench Summary ./mailx/
func BenchmarkSummary(b *testing.B) {
	for _, n := range []int{20000, 100000} {
		dir := b.TempDir()
		md := filepath.Join(dir, "Maildir")
		mb := filepath.Join(dir, "mbox")
		var built bool
		build := func(b *testing.B) {
			if !built {
				buildMaildir(b, md, n)
				buildMbox(b, mb, n)
				// Written back now, not during the timings: the
				// kernel's writeback of the fresh files (up to half
				// a minute after they were written) took disk and
				// processor time from whichever reader ran first.
				syscall.Sync()
				built = true
			}
		}
		for _, kind := range []string{"maildir", "mbox"} {
			path := md
			if kind == "mbox" {
				path = mb
			}
			b.Run(fmt.Sprintf("%s-%dk", kind, n/1000), func(b *testing.B) {
				build(b)
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					if got := listSummary(b, kind, path, io.Discard); got != n {
						b.Fatalf("listed %d messages, want %d", got, n)
					}
				}
				perList := time.Since(start).Seconds() / float64(b.N)
				b.ReportMetric(perList, "s/list")
				b.ReportMetric(float64(n)/perList, "msgs/s")
				b.ReportMetric(keptMB(b, kind, path), "MB-kept")
			})
			b.Run(fmt.Sprintf("binary-%s-%dk", kind, n/1000), func(b *testing.B) {
				build(b)
				bin := binary(b)
				b.ResetTimer()
				runCommand(b, n, bin, "mail", "-H", "-f", path)
			})
		}
		for _, kind := range []string{"mbox", "maildir"} {
			path := mb
			if kind == "maildir" {
				path = md
			}
			b.Run(fmt.Sprintf("s-nail-%s-%dk", kind, n/1000), func(b *testing.B) {
				snail, err := exec.LookPath("s-nail")
				if err != nil {
					b.Skip("SKIP: s-nail is not installed (apt-get install s-nail): no comparison")
				}
				build(b)
				b.ResetTimer()
				runCommand(b, n, snail, "-n", "-N", "-H", "-f", path)
			})
		}
	}
}

// measureEnv makes the test binary, started with it, run the command
// it names (arguments separated by US, 0x1f) and print the command's
// largest resident memory last on stderr. The reader is started from
// this small process because a child of the benchmark would report the
// benchmark's own memory: os/exec starts a child sharing its parent's
// address space until exec (vfork), and Linux keeps that space's
// high-water mark as the child's.
const measureEnv = "MAILX_BENCH_MEASURE"

func init() {
	if argv := os.Getenv(measureEnv); argv != "" {
		os.Exit(runMeasured(strings.Split(argv, "\x1f")))
	}
}

func runMeasured(argv []string) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			fmt.Fprintf(os.Stderr, "\nmaxrss-kib %d ns %d\n", ru.Maxrss, took.Nanoseconds())
		}
	}
	if err != nil {
		return 1
	}
	return 0
}

// runCommand runs a mail reader b.N times and reports the time per
// listing and the largest resident memory of a run (MB-maxrss, from
// getrusage of the reader, which a fresh test process starts and times:
// see measureEnv); it checks that every message was listed.
func runCommand(b *testing.B, n int, prog string, args ...string) {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	var took time.Duration
	var maxRSS int64
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(self)
		home := b.TempDir()
		cmd.Env = append(os.Environ(), "HOME="+home, "MAILRC=/dev/null", "COLUMNS=100", "TERM=dumb",
			measureEnv+"="+strings.Join(append([]string{prog}, args...), "\x1f"))
		var errOut strings.Builder
		cmd.Stderr = &errOut
		// The listing goes to a file, read once the reader is done: a
		// pipe would have this process read it during the timing, on
		// the cores the reader uses.
		sink, err := os.Create(filepath.Join(home, "listing"))
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stdout = sink
		err = cmd.Run()
		sink.Close()
		if err != nil {
			b.Fatalf("%s: %v\n%s", prog, err, errOut.String())
		}
		out, err := os.ReadFile(sink.Name())
		if err != nil {
			b.Fatal(err)
		}
		if got := strings.Count(string(out), "\n"); got < n {
			b.Fatalf("%s listed %d lines, want %d", prog, got, n)
		}
		_, v, ok := strings.Cut(errOut.String(), "\nmaxrss-kib ")
		var kib, ns int64
		if _, err := fmt.Sscanf(v, "%d ns %d", &kib, &ns); !ok || err != nil {
			b.Fatalf("%s: no measurement: %q", prog, errOut.String())
		}
		maxRSS = max(maxRSS, kib)
		took += time.Duration(ns)
	}
	perList := took.Seconds() / float64(b.N)
	b.ReportMetric(perList, "s/list")
	b.ReportMetric(float64(n)/perList, "msgs/s")
	if maxRSS > 0 {
		b.ReportMetric(float64(maxRSS)/1024, "MB-maxrss")
	}
}
