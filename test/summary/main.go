// Command summary runs go test -json and prints what go test prints
// without -v — each package's closing line, and the output of every
// test that failed — and then what plain go test hides: which tests
// were skipped and why (no Postfix, no tmux, ...), so that a newcomer
// sees which suites did not run on this machine, and which packages
// took longest. It ends with one line
// "N passed, N failed, N skipped" and exits non-zero when go test
// failed or any test failed.
//
//	go run ./test/summary [-v] [-json FILE] -- go test -json ./...
//
// -v prints every line of output, as go test -v does; -json FILE keeps
// the whole stream (each test's time is in it).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"sort"
	"strings"
)

// event is one line of go test -json (cmd/test2json), with the fields
// that build failures carry since Go 1.24.
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string
	FailedBuild string
	Elapsed     float64
}

// line is one line of a package's output and the test it belongs to.
type line struct {
	test, text string
}

// pkg collects one package's output until its closing event.
type pkg struct {
	lines  []line
	failed map[string]bool
	done   map[string]bool // tests that passed, failed or skipped
	runs   []string        // tests in the order they started
}

// pkgTime is how long a package's tests ran.
type pkgTime struct {
	pkg     string
	seconds float64
}

// slowAfter is the time from which a package is named among the slowest.
const slowAfter = 10.0

// skip is one skipped test and its reason.
type skip struct {
	pkg, test, reason string
}

// Summary reads a go test -json stream and writes the report.
type Summary struct {
	w       io.Writer
	verbose bool
	pkgs    map[string]*pkg
	skips   []skip
	ran     map[string]int // tests that passed or failed, by package
	times   []pkgTime

	Passed, Failed, Skipped int
	// PackageFailed is set when a package failed without a failing
	// test: a build error, a panic in TestMain, a cut-off run. Failed
	// counts such a package as one failure.
	PackageFailed bool
}

// NewSummary writes its report to w.
func NewSummary(w io.Writer, verbose bool) *Summary {
	return &Summary{w: w, verbose: verbose, pkgs: map[string]*pkg{}, ran: map[string]int{}}
}

// Read consumes the stream; a line that is not JSON is printed as it is.
func (s *Summary) Read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(s.w, sc.Text())
			continue
		}
		s.event(e)
	}
	return sc.Err()
}

func (s *Summary) pkg(name string) *pkg {
	p := s.pkgs[name]
	if p == nil {
		p = &pkg{failed: map[string]bool{}, done: map[string]bool{}}
		s.pkgs[name] = p
	}
	return p
}

func (s *Summary) event(e event) {
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.w, e.Output)
		return
	case "build-fail":
		s.PackageFailed = true
		return
	}
	p := s.pkg(e.Package)
	if e.Test != "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip") {
		p.done[e.Test] = true
	}
	if e.Test == "" && (e.Action == "pass" || e.Action == "fail") {
		s.times = append(s.times, pkgTime{e.Package, e.Elapsed})
	}
	switch e.Action {
	case "run":
		p.runs = append(p.runs, e.Test)
	case "output":
		if s.verbose {
			fmt.Fprint(s.w, e.Output)
		}
		p.lines = append(p.lines, line{e.Test, e.Output})
	case "pass":
		if e.Test != "" {
			s.Passed++
			s.ran[e.Package]++
			return
		}
		s.finish(e.Package, p, false)
	case "skip":
		if e.Test != "" {
			s.Skipped++
			s.skips = append(s.skips, skip{e.Package, e.Test, skipReason(p.lines, e.Test)})
			return
		}
		s.finish(e.Package, p, false) // no test files
	case "fail":
		if e.Test != "" {
			s.Failed++
			s.ran[e.Package]++
			p.failed[e.Test] = true
			return
		}
		s.packageFailed(p)
		s.finish(e.Package, p, true)
	}
}

// packageFailed counts the failures of a package that failed: each test
// that never ended (a panic, a timeout) is one, and a package that
// failed with no test to blame (a build error, TestMain) is one.
func (s *Summary) packageFailed(p *pkg) {
	n := 0
	for _, t := range p.runs {
		if !p.done[t] {
			n++
		}
	}
	if n == 0 && len(p.failed) == 0 {
		n = 1
	}
	if len(p.failed) == 0 {
		s.PackageFailed = true
	}
	s.Failed += n
}

// finish prints a package's report: without -v, the output of its
// failed tests and, when it failed, its own output and that of the
// tests that never ended (a panic, a timeout); then its closing line as
// go test prints it.
func (s *Summary) finish(name string, p *pkg, failed bool) {
	if !s.verbose {
		for _, l := range p.lines {
			switch {
			case l.test == "" && closing(l.text):
				fmt.Fprint(s.w, l.text)
			case l.test == "" && failed,
				l.test != "" && (p.failed[l.test] || failed && !p.done[l.test]) && !marker(l.text):
				fmt.Fprint(s.w, l.text)
			}
		}
	}
	delete(s.pkgs, name)
}

// closing reports whether a package's line is go test's summary of it.
func closing(text string) bool {
	return strings.HasPrefix(text, "ok  \t") || strings.HasPrefix(text, "FAIL\t") || strings.HasPrefix(text, "?   \t")
}

// marker reports whether a line only marks where a test runs.
func marker(text string) bool {
	return strings.HasPrefix(text, "=== RUN") || strings.HasPrefix(text, "=== PAUSE") ||
		strings.HasPrefix(text, "=== CONT") || strings.HasPrefix(text, "=== NAME")
}

// logLine is a line of t.Log, t.Skip and the like: "    file.go:12: text".
var logLine = regexp.MustCompile(`^\s+[\w.-]+\.go:\d+: ?(.*)$`)

// skipReason is the message of a skipped test: its last logged line
// with the lines continuing it, else its last line of other output.
func skipReason(lines []line, test string) string {
	var own []string
	for _, l := range lines {
		if l.test == test && !marker(l.text) && !strings.HasPrefix(l.text, "--- SKIP") {
			own = append(own, strings.TrimRight(l.text, "\n"))
		}
	}
	start := -1
	for i, l := range own {
		if logLine.MatchString(l) {
			start = i
		}
	}
	var parts []string
	if start >= 0 {
		parts = append(parts, logLine.FindStringSubmatch(own[start])[1])
		for _, l := range own[start+1:] {
			parts = append(parts, strings.TrimSpace(l))
		}
	} else if len(own) > 0 {
		parts = append(parts, strings.TrimSpace(own[len(own)-1]))
	}
	r := strings.TrimSpace(strings.Join(parts, " "))
	r = strings.TrimSpace(strings.TrimPrefix(r, "SKIP:"))
	if r == "" {
		return "no reason given"
	}
	if len(r) > 200 {
		r = r[:197] + "..."
	}
	return r
}

// Report prints the skipped tests, grouped by package and reason, and
// the closing counts; it returns whether anything failed.
func (s *Summary) Report() bool {
	// A package cut off (go test killed) has no closing event.
	for name, p := range s.pkgs {
		if len(p.lines) > 0 {
			s.packageFailed(p)
			s.PackageFailed = true
			s.finish(name, p, true)
		}
	}
	if len(s.skips) > 0 {
		type group struct {
			pkg, reason string
			tests       []string
		}
		var groups []*group
		index := map[[2]string]*group{}
		for _, k := range s.skips {
			g := index[[2]string{k.pkg, k.reason}]
			if g == nil {
				g = &group{pkg: k.pkg, reason: k.reason}
				index[[2]string{k.pkg, k.reason}] = g
				groups = append(groups, g)
			}
			g.tests = append(g.tests, k.test)
		}
		sort.SliceStable(groups, func(i, j int) bool { return groups[i].pkg < groups[j].pkg })
		fmt.Fprintf(s.w, "\nSkipped on this machine (go test -v -run NAME ./PACKAGE shows more):\n")
		reasons := map[string]int{}
		for _, g := range groups {
			reasons[g.pkg]++
		}
		for _, g := range groups {
			which := names(g.tests)
			if s.ran[g.pkg] == 0 && reasons[g.pkg] == 1 && len(g.tests) > 1 {
				which = fmt.Sprintf("all %d tests", len(g.tests)) // the whole suite
			}
			fmt.Fprintf(s.w, "  %s: %s: %s\n", g.pkg, which, g.reason)
		}
	}
	sort.SliceStable(s.times, func(i, j int) bool { return s.times[i].seconds > s.times[j].seconds })
	var slow []string
	for _, p := range s.times {
		if p.seconds >= slowAfter && len(slow) < 3 {
			slow = append(slow, fmt.Sprintf("%s %.0fs", p.pkg, p.seconds))
		}
	}
	if len(slow) > 0 {
		fmt.Fprintf(s.w, "\nSlowest: %s\n", strings.Join(slow, ", "))
	}
	failed := s.Failed > 0 || s.PackageFailed
	if failed {
		fmt.Fprintln(s.w, "FAIL")
	}
	fmt.Fprintf(s.w, "%d passed, %d failed, %d skipped\n", s.Passed, s.Failed, s.Skipped)
	return failed
}

// names lists tests, the first few by name.
func names(tests []string) string {
	sort.Strings(tests)
	if len(tests) <= 3 {
		return strings.Join(tests, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(tests[:3], ", "), len(tests)-3)
}

func main() {
	verbose := flag.Bool("v", false, "print every line of output")
	keep := flag.String("json", "", "write go test's JSON stream to `file` too")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: summary [-v] [-json file] -- go test -json [flags] [packages]")
	}
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	// Ctrl-C reaches go test too: let it stop, then report what ran.
	signal.Ignore(os.Interrupt)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "summary:", err)
		os.Exit(1)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "summary:", err)
		os.Exit(1)
	}
	var stream io.Reader = out
	if *keep != "" {
		f, err := os.Create(*keep)
		if err != nil {
			fmt.Fprintln(os.Stderr, "summary:", err)
			os.Exit(1)
		}
		defer f.Close()
		stream = io.TeeReader(out, f)
	}
	s := NewSummary(os.Stdout, *verbose)
	readErr := s.Read(stream)
	waitErr := cmd.Wait()
	failed := s.Report()
	if readErr != nil {
		fmt.Fprintln(os.Stderr, "summary: reading go test:", readErr)
		failed = true
	}
	if waitErr != nil {
		if !failed {
			fmt.Fprintf(os.Stderr, "summary: %s: %v\n", strings.Join(args, " "), waitErr)
		}
		failed = true
	}
	if failed {
		os.Exit(1)
	}
}
