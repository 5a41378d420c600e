// Package cronjob is what homepost cron does: run a job and mail what it
// printed only when it printed something or failed, as chronic and
// cronic do, so that a crontab needs no MTA and a silent success sends
// nothing.
//
// It joins three packages and holds no logic of theirs: capture runs the
// job and keeps its output, report writes the message, submit queues it
// (and wakes delivery). What is left here is the policy: when to mail,
// to whom, and what to do with the output when it cannot be queued.
package cronjob

import (
	"fmt"
	"io"
	"os"
	"strings"

	"homepost/capture"
	"homepost/config"
	"homepost/report"
	"homepost/submit"
)

// MaxOutput bounds the output a report carries: a runaway job must not
// fill the outbox or exceed a relay's size limit. The rest is counted
// and dropped.
const MaxOutput = 4 << 20

// Recipients is $MAILTO when set and not empty (cron's own variable),
// else the user.
func Recipients(cfg *config.Config) []string {
	if m := strings.TrimSpace(os.Getenv("MAILTO")); m != "" {
		return []string{m}
	}
	return []string{cfg.User}
}

// Result is how a job ended and whether its report was queued.
type Result struct {
	// Status is the job's exit status as a shell reports it: 128+N
	// when killed by signal N, 127 not found, 126 cannot run.
	Status int
	// Unsent is why the report that was due could not be queued: the
	// caller should then pass the output on (WriteOutput), as cron
	// mails what its jobs print if it can.
	Unsent error
	// Returned are the MAILTO addresses that could not be read: the
	// report went to the user with them named (as sendmail -oem), and
	// to the other addresses.
	Returned []string
	job      *capture.Job
}

// WriteOutput copies what the job printed (what was kept of it) to w.
func (r *Result) WriteOutput(w io.Writer) error {
	if _, err := r.job.Output.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(w, io.LimitReader(r.job.Output, r.job.Kept))
	return err
}

// Close releases the spooled output.
func (r *Result) Close() error { return r.job.Close() }

// Run runs argv and queues its report when it printed something or
// exited non-zero. The error is for a job that could not be run at all
// (no spool for its output); a command that cannot be started is a
// Result with status 127 or 126, and reported like any failure. Close
// the Result when done with it.
//
// A nil cfg is a configuration that does not say where the outbox is
// (noQueue says why): the job runs all the same, as a crontab that
// relies on homepost cron must not stop running its jobs over a typo,
// and a report that was due is Unsent.
func Run(cfg *config.Config, noQueue error, argv []string) (*Result, error) {
	j, err := capture.Run(argv, MaxOutput)
	if err != nil {
		return nil, err
	}
	r := &Result{Status: j.Status, job: j}
	if j.Silent() {
		return r, nil
	}
	if cfg == nil {
		r.Unsent = fmt.Errorf("cannot queue the job's report: %w", noQueue)
		return r, nil
	}
	returned, err := mail(cfg, j)
	if err != nil {
		r.Unsent = fmt.Errorf("cannot queue the job's report: %w", err)
	}
	r.Returned = returned
	return r, nil
}

// mail queues the report of j. A MAILTO address that cannot be read
// does not keep the report from the others: it goes to the user too,
// with the error (MailErrors, as cron's -oem), and is returned.
func mail(cfg *config.Config, j *capture.Job) ([]string, error) {
	wd, _ := os.Getwd()
	to := Recipients(cfg)
	msg, err := report.Cron{Host: cfg.Hostname, Dir: wd, To: to, Job: j}.Message()
	if err != nil {
		return nil, err
	}
	defer msg.Close()
	res, err := submit.Submit(cfg, submit.Options{Recipients: to, IgnoreDots: true, MailErrors: true}, msg)
	if err != nil {
		return nil, err
	}
	return res.Returned, nil
}
