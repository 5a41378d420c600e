package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"homepost/config"
	"homepost/submit"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "cron",
		summary: "run a job; mail its output only if it printed something or failed",
		run:     runCron,
	})
}

const cronUsage = `usage: homepost cron [--] COMMAND [ARG ...]

Runs COMMAND with its standard output and standard error merged, and mails
what it printed to the user only when it printed something or exited
non-zero, like chronic and cronic: a silent success sends nothing. The
subject names the host, the command, its exit status and how long it ran.
Exits with the job's status: 128+N when killed by signal N, 127 when the
command is not found, 126 when it cannot be run. Mail goes to $MAILTO when set and not empty, else to
the user. For crontabs whose cron cannot reach an MTA:

  MAILTO=""
  17 3 * * *  homepost cron -- backup --quiet

See homepost(1).
`

// cronMaxOutput bounds the output a cron mail carries: a runaway job must
// not fill the outbox or exceed a relay's size limit. The rest is counted
// and dropped.
const cronMaxOutput = 4 << 20

// cronRun is a finished job.
type cronRun struct {
	argv     []string
	start    time.Time
	elapsed  time.Duration
	status   int    // exit status as a shell reports it
	how      string // "exit 3", "killed by signal 9 (SIGKILL)", "exit 127, cannot run"
	detail   string // why it could not be started
	output   *os.File
	size     int64 // bytes printed, including dropped ones
	kept     int64 // bytes kept in output
	startErr error
}

func runCron(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "--":
			args = args[1:]
		case "-h", "--help":
			fmt.Print(cronUsage)
			return sysexits.OK
		default:
			if strings.HasPrefix(args[0], "-") {
				fail("cron", fmt.Errorf("unknown option %s (put -- before the command)", args[0]))
				return sysexits.Usage
			}
		}
	}
	if len(args) == 0 {
		fail("cron", errors.New("no command given"))
		fmt.Fprint(os.Stderr, "usage: homepost cron [--] COMMAND [ARG ...]\n")
		return sysexits.Usage
	}
	// Load the configuration first: a broken one is reported before the
	// job runs, not after its output is lost.
	cfg, code := loadConfig("cron")
	if cfg == nil {
		return code
	}
	r, err := runJob(args)
	if err != nil {
		fail("cron", err)
		return sysexits.TempFail
	}
	defer r.output.Close()
	if r.status == 0 && r.size == 0 && r.startErr == nil {
		return 0
	}
	if err := mailCronRun(cfg, r); err != nil {
		// The output is lost unless it goes somewhere: cron mails
		// whatever we print, if it can.
		fail("cron", fmt.Errorf("cannot queue the job's report: %w", err))
		r.output.Seek(0, io.SeekStart)
		io.Copy(os.Stderr, r.output)
		if r.status == 0 {
			return exitCode(err)
		}
	}
	return r.status
}

// runJob runs argv with stdout and stderr on one pipe, so their lines
// keep the order the job wrote them in, and spools what it prints to an
// unlinked temporary file (the output may be larger than memory).
func runJob(argv []string) (*cronRun, error) {
	spool, err := os.CreateTemp("", "homepost-cron-*")
	if err != nil {
		return nil, fmt.Errorf("spool output: %w", err)
	}
	os.Remove(spool.Name())
	r := &cronRun{argv: argv, output: spool, start: time.Now()}

	pr, pw, err := os.Pipe()
	if err != nil {
		spool.Close()
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = os.Stdin
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		r.elapsed = time.Since(r.start)
		r.startErr = err
		r.status = 126
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			r.status = 127
		}
		r.how = fmt.Sprintf("exit %d, cannot run", r.status)
		r.detail = err.Error()
		return r, nil
	}
	pw.Close()

	// Pass on the signals that ask the job to stop; the wrapper waits to
	// report how it ended.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()

	w := bufio.NewWriterSize(spool, 64<<10)
	n, copyErr := io.Copy(&limitWriter{w: w, n: cronMaxOutput}, pr)
	pr.Close()
	waitErr := cmd.Wait()
	close(done)
	signal.Stop(sigs)
	r.elapsed = time.Since(r.start)
	r.size = n
	if err := w.Flush(); err != nil && copyErr == nil {
		copyErr = err
	}
	r.kept = min(n, cronMaxOutput)
	if copyErr != nil {
		r.detail = "reading the output: " + copyErr.Error()
	}

	st := cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.status = 128 + int(ws.Signal())
		r.how = fmt.Sprintf("exit %d, killed by signal %d (%v)", r.status, int(ws.Signal()), ws.Signal())
	} else {
		r.status = st.ExitCode()
		r.how = "exit " + strconv.Itoa(r.status)
	}
	if waitErr != nil && r.status == 0 {
		r.status, r.how = 1, waitErr.Error()
	}
	return r, nil
}

// limitWriter keeps the first n bytes and discards the rest while
// reporting them written, so the job never blocks on a full pipe.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(int64(len(p)), l.n)
		if _, err := l.w.Write(p[:k]); err != nil {
			return 0, err
		}
		l.n -= k
	}
	return len(p), nil
}

// cronSubject is "[host] cron: COMMAND: exit 3 after 1.2s", encoded per
// RFC 2047 when the command is not ASCII.
func cronSubject(host string, r *cronRun) string {
	cmd := quoteArgv(r.argv)
	if utf8.RuneCountInString(cmd) > 80 {
		cmd = string([]rune(cmd)[:79]) + "…"
	}
	s := fmt.Sprintf("[%s] cron: %s: %s after %s", host, cmd, r.how, roundDuration(r.elapsed))
	return encodeHeader(s)
}

// encodeHeader makes s safe as an unstructured header value: one line,
// valid UTF-8, RFC 2047-encoded when not ASCII.
func encodeHeader(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	for _, r := range s {
		if r >= utf8.RuneSelf {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// quoteArgv shows a command line the way a shell would take it back.
func quoteArgv(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && !strings.ContainsFunc(a, func(r rune) bool {
			return !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ':' || r == ',' || r == '+' || r == '@' || r == '%' ||
				r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r >= utf8.RuneSelf)
		}) {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// cronRecipients is $MAILTO when set and not empty (cron's own variable),
// else the user.
func cronRecipients(cfg *config.Config) []string {
	if m := strings.TrimSpace(os.Getenv("MAILTO")); m != "" {
		return []string{m}
	}
	return []string{cfg.User}
}

// mailCronRun queues the report of a job.
func mailCronRun(cfg *config.Config, r *cronRun) error {
	if _, err := r.output.Seek(0, io.SeekStart); err != nil {
		return err
	}
	body := io.LimitReader(r.output, r.kept)
	qp, err := needsQP(io.LimitReader(r.output, r.kept))
	if err != nil {
		return err
	}
	if _, err := r.output.Seek(0, io.SeekStart); err != nil {
		return err
	}
	wd, _ := os.Getwd()
	var hdr strings.Builder
	fmt.Fprintf(&hdr, "To: %s\n", strings.Join(cronRecipients(cfg), ", "))
	fmt.Fprintf(&hdr, "Subject: %s\n", cronSubject(cfg.Hostname, r))
	hdr.WriteString("Auto-Submitted: auto-generated\n")
	hdr.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n")
	if qp {
		hdr.WriteString("Content-Transfer-Encoding: quoted-printable\n")
	} else {
		hdr.WriteString("Content-Transfer-Encoding: 8bit\n")
	}
	hdr.WriteString("\n")

	var intro strings.Builder
	fmt.Fprintf(&intro, "Command:   %s\n", quoteArgv(r.argv))
	fmt.Fprintf(&intro, "Host:      %s\n", cfg.Hostname)
	fmt.Fprintf(&intro, "Directory: %s\n", wd)
	fmt.Fprintf(&intro, "Started:   %s\n", r.start.Format(time.RFC1123Z))
	fmt.Fprintf(&intro, "Duration:  %s\n", roundDuration(r.elapsed))
	fmt.Fprintf(&intro, "Status:    %s\n", r.how)
	if r.detail != "" {
		fmt.Fprintf(&intro, "Error:     %s\n", r.detail)
	}
	switch {
	case r.size == 0:
		intro.WriteString("\nThe command printed nothing.\n")
	case r.kept < r.size:
		fmt.Fprintf(&intro, "\nOutput (standard output and error, merged; the first %d of %d bytes):\n\n", r.kept, r.size)
	default:
		intro.WriteString("\nOutput (standard output and error, merged):\n\n")
	}

	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 32<<10)
		var w io.Writer = bw
		if qp {
			w = &qpWriter{w: bw}
		}
		_, err := io.WriteString(w, intro.String())
		if err == nil {
			_, err = io.Copy(w, body)
		}
		if err == nil && qp {
			err = w.(*qpWriter).Close()
		}
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	msg := io.MultiReader(strings.NewReader(hdr.String()), pr)
	_, err = submit.Submit(cfg, submit.Options{Recipients: cronRecipients(cfg), IgnoreDots: true}, msg)
	pr.Close()
	return err
}

// needsQP reports whether output cannot travel as 8bit text: NUL or CR
// bytes, invalid UTF-8, or a line longer than SMTP allows (998 octets).
func needsQP(r io.Reader) (bool, error) {
	br := bufio.NewReaderSize(r, 4096)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return true, nil
		}
		if len(bytes.TrimSuffix(line, []byte("\n"))) > 998 || !utf8.Valid(line) || strings.ContainsAny(string(line), "\x00\r") {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// qpWriter encodes quoted-printable (RFC 2045 6.7) losslessly: unlike
// mime/quotedprintable in text mode it keeps a lone CR (progress bars) and
// a CR before LF as =0D, and writes LF as a line break. Lines stay under
// 76 characters with soft breaks.
type qpWriter struct {
	w   *bufio.Writer
	col int
	// pending is a space or tab not yet written: it must be encoded if a
	// line break follows.
	pending byte
}

const qpHex = "0123456789ABCDEF"

func (q *qpWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		if q.pending != 0 {
			if c == '\n' {
				q.put3(q.pending)
			} else {
				q.put1(q.pending)
			}
			q.pending = 0
		}
		switch {
		case c == '\n':
			q.w.WriteByte('\n')
			q.col = 0
		case c == ' ' || c == '\t':
			q.pending = c
		case c >= 33 && c <= 126 && c != '=':
			q.put1(c)
		default:
			q.put3(c)
		}
	}
	return len(p), nil
}

func (q *qpWriter) put1(c byte) {
	if q.col+1 > 75 {
		q.w.WriteString("=\n")
		q.col = 0
	}
	q.w.WriteByte(c)
	q.col++
}

func (q *qpWriter) put3(c byte) {
	if q.col+3 > 75 {
		q.w.WriteString("=\n")
		q.col = 0
	}
	q.w.Write([]byte{'=', qpHex[c>>4], qpHex[c&15]})
	q.col += 3
}

// Close writes a pending trailing blank, encoded, and ends the last line.
func (q *qpWriter) Close() error {
	if q.pending != 0 {
		q.put3(q.pending)
		q.pending = 0
	}
	if q.col > 0 {
		q.w.WriteString("=\n")
	}
	return nil
}
