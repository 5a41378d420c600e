package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"homepost/config"
	"homepost/delivery"
	"homepost/forwarder"
	"homepost/maildir"
	"homepost/relay"
)

// Relay sends messages through the smarthost; relay.Client is the real
// one.
type Relay interface {
	Send(ctx context.Context, msgs []*delivery.Outgoing) [][]delivery.Result
}

// noRelay defers remote mail until a smarthost is configured: mail waits
// in the queue (mailq says why) instead of being lost or bounced.
type noRelay struct{ file string }

func (n noRelay) Send(_ context.Context, msgs []*delivery.Outgoing) [][]delivery.Result {
	out := make([][]delivery.Result, len(msgs))
	for k, m := range msgs {
		for range m.Rcpts {
			out[k] = append(out[k], delivery.Temp("4.4.0", "no smarthost configured: set [relay] url in %s", n.file))
		}
	}
	return out
}

// badRelay defers remote mail while the [relay] table is wrong.
type badRelay struct{ err error }

func (b badRelay) Send(_ context.Context, msgs []*delivery.Outgoing) [][]delivery.Result {
	out := make([][]delivery.Result, len(msgs))
	for k, m := range msgs {
		for range m.Rcpts {
			out[k] = append(out[k], delivery.Temp("4.3.5", "relay configuration: %v", b.err))
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
		return noRelay{file: file}
	}
	c, err := relay.New(cfg, log)
	if err != nil {
		log.Error("relay configuration", "reason", err)
		return badRelay{err}
	}
	return c
}

// command runs a |command target with the message, trace header first,
// on its standard input.
func (a *Agent) command(ctx context.Context, j *job, i int, t forwarder.Target, hdr []byte) delivery.Result {
	env := forwarder.NewCommandEnv(a.cfg, j.m.Env.Sender, a.qualify(t.Via), j.m.Env.Original(i))
	return forwarder.RunCommand(ctx, a.cfg, t.Value, env, io.MultiReader(bytes.NewReader(hdr), j.m.Body()))
}

// bounce stores a delivery status notification for the recipients that
// bounced in this attempt in the user's local store. Never for a message
// from the null sender: no bounce of a bounce.
func (a *Agent) bounce(j *job) error {
	env := j.m.Env
	if env.Sender == "" {
		return nil
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: MAILER-DAEMON@%s (Mail Delivery System)\nTo: %s\nSubject: Undelivered Mail Returned to Sender\nDate: %s\nAuto-Submitted: auto-replied\n\n", a.cfg.Hostname, env.Sender, a.now().Format(time.RFC1123Z))
	for _, r := range j.recs {
		if strings.HasPrefix(r.Reason, "5") || r.Status.String() == "bounced" {
			fmt.Fprintf(&b, "<%s>: %s\n", env.Original(r.Idx), r.Reason)
		}
	}
	b.WriteString("\n")
	b.Write(j.header)
	name := copyName(j.name, len(env.Rcpts)+int(env.Arrival.Unix()%1000))
	k, p := a.cfg.StoreKind()
	if k == "mbox" {
		return maildir.Mbox(p).Append("", a.now(), nil, &b)
	}
	d := maildir.Dir(p)
	if err := d.Deliver(name, nil, io.Reader(&b)); err != nil {
		return err
	}
	return d.Sync()
}
