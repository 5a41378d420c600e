package agent

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"

	"homepost/config"
	"homepost/courier"
	"homepost/dsn"
	"homepost/forwarder"
	"homepost/maildir"
	"homepost/relay"
)

// Relay sends messages through the smarthost; relay.Client is the real
// one.
type Relay interface {
	Send(ctx context.Context, msgs []*courier.Outgoing) [][]courier.Result
}

// deferRelay answers every remote recipient with one temporary failure:
// without a usable smarthost, mail waits in the queue (mailq says why)
// instead of being lost or bounced.
type deferRelay struct{ res courier.Result }

func (d deferRelay) Send(_ context.Context, msgs []*courier.Outgoing) [][]courier.Result {
	out := make([][]courier.Result, len(msgs))
	for k, m := range msgs {
		for range m.Rcpts {
			out[k] = append(out[k], d.res)
		}
	}
	return out
}

func newRelay(cfg *config.Config, log *slog.Logger) Relay {
	if cfg.Relay.URL == "" {
		file := cfg.File
		if file == "" {
			file = config.DefaultPath(cfg.Home)
		}
		return deferRelay{courier.Temp("4.4.0", "no smarthost configured: set [relay] url in %s", file)}
	}
	c, err := relay.New(cfg, log)
	if err != nil {
		log.Error("relay configuration", "reason", err)
		return deferRelay{courier.Temp("4.3.5", "relay configuration: %v", err)}
	}
	return c
}

// command runs a |command target with the message, trace header first,
// on its standard input.
func (a *Agent) command(ctx context.Context, j *job, i int, t forwarder.Target, hdr []byte) courier.Result {
	env := courier.NewCommandEnv(a.cfg, j.m.Env.Sender, a.qualify(t.Via), j.m.Env.Original(i))
	return courier.RunCommand(ctx, a.cfg, t.Value, env, io.MultiReader(bytes.NewReader(hdr), j.m.Body()))
}

// bounce stores a delivery status notification (RFC 3464) for the
// recipients that bounced in this attempt in the user's local store.
// Never for a message from the null sender or a mailer-daemon: no bounce
// of a bounce. The DSN's name derives from the queue file and the first
// bounced recipient, so a retry after a crash does not store it twice.
func (a *Agent) bounce(j *job) error {
	env := j.m.Env
	if !dsn.ShouldBounce(env.Sender) {
		for _, i := range j.bounced {
			a.log.Info("no bounce for a bounce", "id", j.m.ID, "orig_to", env.Original(i))
		}
		return nil
	}
	rep := dsn.Report{Host: a.cfg.Hostname, QueueID: j.m.ID, Sender: env.Sender, Arrival: env.Arrival}
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
		final := r.Addr
		if r.Parent >= 0 {
			final = r.Via
		}
		rc := dsn.Recipient{Final: a.qualify(final), Action: "failed", Status: status, Diagnostic: diag}
		if o := a.qualify(env.Original(i)); o != rc.Final {
			rc.Original = o
		}
		rep.Recipients = append(rep.Recipients, rc)
	}
	msg, err := dsn.Build(rep, j.m.Body())
	if err != nil {
		return err
	}
	trace := courier.Trace{Sender: "", DeliveredTo: a.qualify(a.cfg.User), ID: j.m.ID, Host: a.cfg.Hostname, Time: a.now()}
	k, p := a.cfg.StoreKind()
	if k == "mbox" {
		return maildir.Mbox(p).Append("", a.now(), trace.Header(), bytes.NewReader(msg))
	}
	d := maildir.Dir(p)
	name := copyName(j.name, j.bounced[0]) + "D"
	if j.recovered {
		if ok, err := d.Has(name); err == nil && ok {
			return nil
		}
	}
	if err := d.Deliver(name, trace.Header(), bytes.NewReader(msg)); err != nil {
		return err
	}
	a.log.Info("bounce stored", "id", j.m.ID, "to", env.Sender, "recipients", len(rep.Recipients))
	return d.Sync()
}
