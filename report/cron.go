package report

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"homepost/capture"
)

// Cron is what the report of a cron job says.
type Cron struct {
	Host string   // this host's name, for the subject
	Dir  string   // the job's working directory
	To   []string // the recipients, for the To field
	Job  *capture.Job
}

// Message returns the report: a header naming the host, the command, how
// it ended and how long it ran, an introduction, and the output the job
// printed (what capture kept of it), read from c.Job.Output as the
// message is read. Close the returned reader when done with it.
func (c Cron) Message() (io.ReadCloser, error) {
	j := c.Job
	if _, err := j.Output.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	qp, err := needsQP(io.LimitReader(j.Output, j.Kept))
	if err != nil {
		return nil, err
	}
	if _, err := j.Output.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	body := io.LimitReader(j.Output, j.Kept)

	var hdr bytes.Buffer
	fields := append([]field{
		{"To", strings.Join(c.To, ", ")},
		textHeader("Subject", c.subject()),
	}, textFields(qp)...)
	if err := writeHeader(&hdr, fields); err != nil {
		return nil, err
	}

	var intro strings.Builder
	fmt.Fprintf(&intro, "Command:   %s\n", QuoteArgv(j.Argv))
	fmt.Fprintf(&intro, "Host:      %s\n", c.Host)
	fmt.Fprintf(&intro, "Directory: %s\n", c.Dir)
	fmt.Fprintf(&intro, "Started:   %s\n", j.Start.Format(time.RFC1123Z))
	fmt.Fprintf(&intro, "Duration:  %s\n", roundDuration(j.Elapsed))
	fmt.Fprintf(&intro, "Status:    %s\n", j.How)
	if j.Detail != "" {
		fmt.Fprintf(&intro, "Error:     %s\n", j.Detail)
	}
	switch {
	case j.Size == 0:
		intro.WriteString("\nThe command printed nothing.\n")
	case j.Kept < j.Size:
		fmt.Fprintf(&intro, "\nOutput (standard output and error, merged; the first %d of %d bytes):\n\n", j.Kept, j.Size)
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
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(&hdr, pr), pr}, nil
}

// subject is "[host] cron: COMMAND: exit 3 after 1.2s", the command cut
// to 80 characters.
func (c Cron) subject() string {
	cmd := QuoteArgv(c.Job.Argv)
	if utf8.RuneCountInString(cmd) > 80 {
		cmd = string([]rune(cmd)[:79]) + "…"
	}
	return fmt.Sprintf("[%s] cron: %s: %s after %s", c.Host, cmd, c.Job.How, roundDuration(c.Job.Elapsed))
}

// QuoteArgv shows a command line the way a shell would take it back.
func QuoteArgv(argv []string) string {
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
