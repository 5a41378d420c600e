package forwarder

import (
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"homepost/addr"
	"homepost/config"
	"homepost/courier"
	"homepost/outbox"
)

// Kind is what a target delivers to.
type Kind int

const (
	Store   Kind = iota // the user's local store (Value: the local user)
	Mbox                // an mbox file (Value: /path)
	Maildir             // a Maildir (Value: /path/)
	Command             // a command (Value: the command line)
	Remote              // a remote address, through the smarthost (Value: the address)
	Fail                // no delivery: Result says why (bounce, defer, or sent for /dev/null)
)

// Target is one place a recipient's copy goes.
type Target struct {
	Kind  Kind
	Value string
	// Via is the address this copy is delivered for: its Delivered-To.
	Via string
	// Result is the outcome for Kind Fail.
	Result courier.Result
}

// Spec returns the target in aliases(5) syntax, the form kept in the
// queue journal: "\user" for the store, "/path", "/path/", "|command",
// or the address. A Fail target is "!" and its result's text ("!5.4.6
// mail forwarding loop for x"): a status code and a space, which no
// address holds after its '!' ("!old@example.org" is an address).
func (t Target) Spec() string {
	switch t.Kind {
	case Store:
		return `\` + t.Value
	case Command:
		return "|" + t.Value
	case Fail:
		return "!" + t.Result.Text()
	}
	return t.Value
}

// ParseSpec reads a target back from its Spec. The journal holds only
// targets that were already checked, so no safety rule applies here.
func ParseSpec(spec, via string) Target {
	t := Target{Via: via}
	switch {
	case failSpec(spec):
		t.Kind = Fail
		code, reason, _ := strings.Cut(spec[1:], " ")
		switch {
		case strings.HasPrefix(code, "2."):
			t.Result = courier.OK(reason)
		case strings.HasPrefix(code, "4."):
			t.Result = courier.Temp(code, "%s", reason)
		default:
			t.Result = courier.Perm(code, "%s", reason)
		}
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

// failSpec reports whether spec is a Fail target's: "!", a status code
// and a space. An address may start with '!' too ("!old@example.org"),
// but holds no space unless its local part is quoted.
func failSpec(spec string) bool {
	code, _, ok := strings.Cut(strings.TrimPrefix(spec, "!"), " ")
	if !ok || !strings.HasPrefix(spec, "!") || code == "" || !strings.ContainsRune("245", rune(code[0])) {
		return false
	}
	parts := strings.Split(code, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// Forwarder resolves recipients with the current configuration. It is
// safe for concurrent use; parsed files are kept between calls and read
// again when they change.
type Forwarder struct {
	cfg   *config.Config
	log   *slog.Logger
	files *cache
	// namedList holds the paths config.toml sets (load.go).
	namedOnce sync.Once
	namedList []setting
}

// New returns a Forwarder for cfg. log receives the safety warnings (an
// ignored .forward, a command from the system aliases not run) and the
// problems of each file as it is read (Load); nil discards them.
func New(cfg *config.Config, log *slog.Logger) *Forwarder {
	return &Forwarder{cfg: cfg, log: log, files: &cache{log: log, login: cfg.User}}
}

// Resolve expands one envelope recipient into targets. deliveredTo holds
// the lowercased addresses of the message's Delivered-To fields, for loop
// detection. It never fails: a problem becomes a Fail target, or the
// store with a logged warning, so that no mail is lost. Every target's
// Via is rcpt.
func (f *Forwarder) Resolve(rcpt string, deliveredTo map[string]bool) []Target {
	return f.resolve(rcpt, deliveredTo, nil)
}

// ResolveAgain is Resolve for a recipient whose expansion is recorded
// in the queue already, at a retry (agent/reexpand.go). why is set when
// the targets are a fallback rather than what the files say: a file on
// the way could not be obeyed (unsafe, unreadable), a line or entry of
// it could not be read, or a target fails for now (a lookup error):
// what Resolve logs as a warning. New mail then goes to the store, so
// that none is lost; but a copy waiting for a place the files named
// must not be dropped for that fallback (the store most often has its
// copy already, and the waiting one would go nowhere): the caller keeps
// the recorded expansion until the files can be read again.
func (f *Forwarder) ResolveAgain(rcpt string, deliveredTo map[string]bool) (ts []Target, why string) {
	r := f.newResolver(rcpt, deliveredTo, nil)
	r.run()
	why = r.problem
	for _, t := range r.targets {
		if why == "" && t.Kind == Fail && t.Result.Status == outbox.Deferred {
			why = t.Result.Text()
		}
	}
	return r.targets, why
}

// Current returns t, a target read back from the queue journal for an
// expansion of rcpt (its parent recipient), as it is to be delivered
// now. The expansion is recorded before delivery, so that a crash cannot
// change what the copies are for; but an mbox target that names a
// directory but no Maildir waits for the user to end its line with '/'
// (its deferral's reason says so), and once rcpt's expansion names the
// same path with the '/', the copy is for that Maildir. No mbox copy can
// have been stored in a directory, and a Maildir copy is found by name:
// nothing is stored twice. Any other target is returned as it is.
func (f *Forwarder) Current(t Target, rcpt string, deliveredTo map[string]bool) Target {
	if t.Kind != Mbox {
		return t
	}
	if dir, md := courier.DirectoryAt(t.Value); !dir || md {
		// A Maildir already: the mbox courier delivers to it.
		return t
	}
	want := filepath.Clean(t.Value) + "/"
	for _, u := range f.Resolve(rcpt, deliveredTo) {
		if u.Kind == Maildir && u.Value == want {
			t.Kind, t.Value = Maildir, want
			break
		}
	}
	return t
}

// Explain is Resolve that also says why, one line per step (which
// file:line, which safety rule), for homepost resolve. depth is the
// nesting of the step.
func (f *Forwarder) Explain(rcpt string, deliveredTo map[string]bool, note func(depth int, msg string)) []Target {
	return f.resolve(rcpt, deliveredTo, note)
}

func (f *Forwarder) resolve(rcpt string, deliveredTo map[string]bool, note func(int, string)) []Target {
	r := f.newResolver(rcpt, deliveredTo, note)
	r.run()
	return r.targets
}

func (f *Forwarder) newResolver(rcpt string, deliveredTo map[string]bool, note func(int, string)) *resolver {
	return &resolver{
		f: f, rcpt: rcpt, deliveredTo: deliveredTo, note: note,
		seen: map[string]bool{}, active: map[string]bool{}, done: map[string]bool{},
	}
}

// run expands r.rcpt into r.targets.
func (r *resolver) run() {
	rcpt := r.rcpt
	to := strings.TrimSpace(rcpt)
	if a, ok := strings.CutPrefix(to, "<"); ok {
		to = strings.TrimSuffix(a, ">")
	}
	local, _, _ := addr.Split(to)
	if local == "" || strings.ContainsAny(to, "\n\r\x00") {
		r.fail(0, courier.Perm("5.1.3", "bad recipient address syntax: %q", rcpt))
		return
	}
	r.address(to, 0, source{})
	if len(r.targets) == 0 {
		// Only empty :include: files or duplicates: keep the mail.
		r.warn(0, "%s expands to nothing; mail is kept in the local store", rcpt)
		r.store(0, "no other target")
	}
}

// isLocalDomain reports whether mail to a user at domain is local: one
// of local_domains and the names always local, or an address literal
// naming this machine (user@[127.0.0.1], user@[IPv6:::1], an address of
// one of its interfaces), which is no more the smarthost's to deliver
// than user@localhost is.
func (f *Forwarder) isLocalDomain(domain string) bool {
	return f.cfg.IsLocalDomain(domain) || addr.LocalLiteral(domain)
}
