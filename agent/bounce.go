package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"

	"homepost/courier"
	"homepost/forwarder"
	"homepost/outbox"
	"homepost/report"
)

// bounce stores a delivery status notification (RFC 3464) for the
// recipients that bounced in this attempt in the user's local store.
// Never for a message from the null sender or a mailer-daemon: no bounce
// of a bounce. The DSN's name derives from the queue file and the first
// bounced recipient, so a retry after a crash does not store it twice.
func (a *Agent) bounce(j *job) error {
	env := j.m.Env
	if !report.ShouldBounce(env.Sender) {
		for _, i := range j.bounced {
			a.log.Info("no bounce for a bounce", "id", j.m.ID, "orig_to", env.Original(i))
		}
		return nil
	}
	rep := report.DSN{Host: a.cfg.Hostname, QueueID: j.m.ID, Sender: env.Sender, Arrival: env.Arrival,
		HeadersOnly: strings.EqualFold(env.Opts["ret"], "hdrs")}
	reasons := map[int]string{}
	for _, r := range j.recs {
		reasons[r.Idx] = r.Reason
	}
	for _, i := range j.bounced {
		r := env.Rcpts[i]
		status, diag, _ := strings.Cut(reasons[i], " ")
		if !strings.HasPrefix(status, "5.") && !strings.HasPrefix(status, "4.") {
			status, diag = "5.0.0", reasons[i]
		}
		// The address that failed, as Postfix names it: the remote
		// address an alias or .forward sent the copy on to, else the
		// local address whose file, command or store it was.
		final := r.Addr
		if r.Parent >= 0 {
			final = r.Via
		}
		if t, ok := j.bouncedAt[i]; ok && t.Kind == forwarder.Remote && t.Value != "" {
			final = t.Value
		}
		rc := report.Recipient{Final: a.qualify(final), Action: "failed", Status: status, Diagnostic: diag}
		if o := a.qualify(env.Original(i)); o != rc.Final {
			rc.Original = o
		}
		rep.Recipients = append(rep.Recipients, rc)
	}
	msg, err := report.BuildDSN(rep, j.m.Body())
	if err != nil {
		return err
	}
	now := a.now()
	to := a.qualify(a.cfg.User)
	trace := courier.Trace{Sender: "", DeliveredTo: to, ID: j.m.ID, Host: a.cfg.Hostname, Time: now}
	kind, path := a.store()
	c := &courier.Copy{
		ID: j.m.ID, Name: copyName(j.name, j.bounced[0]) + "D", To: path, Rcpt: to, Orig: to,
		Header: trace.Header(), Body: func() io.Reader { return bytes.NewReader(msg) }, Size: int64(len(msg)),
		Time: now, Recovered: j.recovered,
	}
	if kind == forwarder.Mbox {
		c.Mark, c.Marked = j.marker(outbox.DSNIdx, path, env.DSNMark)
	}
	res := a.couriers[kind].Deliver(context.Background(), []*courier.Copy{c})[0]
	if res.Status != outbox.Sent {
		return errors.New(res.Text())
	}
	a.log.Info("bounce stored", "id", j.m.ID, "to", env.Sender, "recipients", len(rep.Recipients), "reason", res.Reason)
	return nil
}
