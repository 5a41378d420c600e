package forwarder

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"homepost/addr"
	"homepost/config"
	"homepost/courier"
)

// maxDepth bounds alias expansion, as Postfix's local(8) does.
const maxDepth = 100

// systemNames always reach the user when no alias names them: mail to
// root and postmaster from cron or a daemon is the reason homepost exists.
var systemNames = map[string]bool{"root": true, "postmaster": true, "mailer-daemon": true}

// source is where a value was read, and what it may do.
type source struct {
	file string
	line int
	// trusted: commands and file targets may run as the user.
	trusted bool
	// home: "~/" means the user's home (the user's own files).
	home bool
	// ext is the extension an alias matched without ("root+cron" found
	// as "root"): it is carried over to the local addresses the alias
	// names, as Postfix's propagate_unmatched_extensions does.
	ext string
}

func (s source) at() string {
	if s.file == "" {
		return "the recipient"
	}
	return fmt.Sprintf("%s:%d", s.file, s.line)
}

// resolver is one expansion of one envelope recipient.
type resolver struct {
	f           *Forwarder
	rcpt        string
	deliveredTo map[string]bool
	targets     []Target
	seen        map[string]bool // targets already added
	active      map[string]bool // names being expanded: a repeat is delivered
	done        map[string]bool // addresses already expanded: a repeat adds nothing
	note        func(depth int, msg string)
	// loop describes the alias loop that mailbox is called for, or "".
	loop string
	// chain holds the aliases being expanded, outermost first, to
	// name an alias loop.
	chain []link
	// unavailable says that an aliases file config.toml names does
	// not exist: a name found nowhere else may be in it.
	unavailable *missingFile
	// told holds the files whose left-out lines were shown.
	told map[string]bool
	// problem is the first warning: the expansion took a fallback
	// (ResolveAgain).
	problem string
}

// link is one alias being expanded and where it is defined.
type link struct{ name, at string }

func (r *resolver) trace(depth int, format string, args ...any) {
	if r.note != nil {
		r.note(depth, fmt.Sprintf(format, args...))
	}
}

// warn logs a safety decision and traces it.
func (r *resolver) warn(depth int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if r.problem == "" {
		r.problem = msg
	}
	if r.f.log != nil {
		r.f.log.Warn("forwarding", "to", r.rcpt, "reason", msg)
	}
	r.trace(depth, "warning: %s", msg)
}

func (r *resolver) add(t Target) {
	t.Via = r.rcpt
	// The store named by its path is the store: one copy, not two;
	// and written without the '/' of its Maildir (before the Maildir
	// exists), not an mbox that would take the store's place.
	if (t.Kind == Maildir || t.Kind == Mbox) && isStore(r.f.cfg, t.Value) {
		t.Kind, t.Value = Store, r.f.cfg.User
	}
	key := fmt.Sprintf("%d\x00%s\x00%s", t.Kind, t.Value, t.Result.Text())
	if r.seen[key] {
		return
	}
	r.seen[key] = true
	r.targets = append(r.targets, t)
}

func (r *resolver) store(depth int, why string) {
	r.trace(depth, "-> local store %s (%s)", r.f.cfg.Store, why)
	r.add(Target{Kind: Store, Value: r.f.cfg.User})
}

func (r *resolver) fail(depth int, res courier.Result) {
	r.trace(depth, "-> %s", res.Text())
	r.add(Target{Kind: Fail, Result: res})
}

// name is a local part as it is looked up: whole first, then without
// its extension (base), as Postfix documents recipient_delimiter ("the
// software tries ... user+foo before trying user, and .forward+foo
// before trying .forward"), so that www-data is the login www-data
// with "-" as the delimiter, not the extension "data" of www.
type name struct {
	key  string // the whole local part, lowercased
	base string // key without the delimiter and extension; key if none
	sep  string // the delimiter found, "" when key has no extension
	ext  string // the extension, without sep (may be empty: "user+")
	// written and writtenBase are key and base as written: the
	// password database is case-sensitive (Debian-exim).
	written, writtenBase string
}

// split reports whether the name has an extension to try without.
func (n name) split() bool { return n.sep != "" }

// parseName splits a local part at the first character of
// recipient_delimiter (one character; several make a set, as Postfix
// 2.11 reads them), as Postfix's split_addr does: a name that starts
// with the delimiter has no extension; postmaster and mailer-daemon are
// never split; with '-' in the set neither are owner-name and
// name-request (Postfix's owner_request_special), the mailing-list
// names that "-" would otherwise cut.
func (f *Forwarder) parseName(local string) name {
	n := name{key: strings.ToLower(local), written: local}
	n.base, n.writtenBase = n.key, local
	d := f.cfg.RecipientDelimiter
	if d == "" || n.key == "postmaster" || n.key == "mailer-daemon" {
		return n
	}
	if strings.Contains(d, "-") && (strings.HasPrefix(n.key, "owner-") || len(n.key) > len("-request") && strings.HasSuffix(n.key, "-request")) {
		return n
	}
	i := strings.IndexAny(local, d)
	if i <= 0 {
		return n
	}
	_, size := utf8.DecodeRuneInString(local[i:])
	base, sep, ext := local[:i], local[i:i+size], local[i+size:]
	n.base, n.sep, n.ext, n.writtenBase = strings.ToLower(base), sep, strings.ToLower(ext), base
	// Lowercasing keeps the parts apart, whatever their letters.
	n.key = n.base + n.sep + n.ext
	return n
}

// looped reports whether the message already went through to.
func (r *resolver) looped(to string) bool {
	if len(r.deliveredTo) == 0 {
		return false
	}
	a := strings.ToLower(to)
	if r.deliveredTo[a] {
		return true
	}
	local, domain, hasDomain := addr.Split(a)
	if !hasDomain {
		return r.deliveredTo[local+"@"+strings.ToLower(r.f.cfg.Hostname)]
	}
	return r.f.isLocalDomain(domain) && r.deliveredTo[local]
}

// address expands one address: a remote one is a target; a local one
// goes through the user's aliases, the system aliases, then the user's
// .forward or the other_users rule.
func (r *resolver) address(to string, depth int, from source) {
	if depth > maxDepth {
		r.warn(depth, "%s: alias expansion deeper than %d levels at %s", from.at(), maxDepth, to)
		r.fail(depth, courier.Perm("5.4.6", "alias expansion of %s deeper than %d levels (at %s)", r.rcpt, maxDepth, to))
		return
	}
	// Delivered-To marks a local delivery and is checked where mail
	// would be delivered or expanded here, as Postfix's local(8) does;
	// handing mail to another host is no loop by itself (re-sending a
	// received message to one's own remote address). A loop through
	// that host comes back to a local name and is caught there.
	local, domain, hasDomain := addr.Split(to)
	if hasDomain && !r.f.isLocalDomain(domain) {
		if from.file != "" {
			// Named by a line of a file, as the other targets
			// are traced.
			r.trace(depth, "%s: %s: remote address -> smarthost", from.at(), to)
		} else {
			r.trace(depth, "%s: remote address -> smarthost", to)
		}
		r.add(Target{Kind: Remote, Value: to})
		return
	}
	if r.looped(to) {
		r.trace(depth, "%s: the message already has Delivered-To: %s", to, to)
		r.fail(depth, courier.Perm("5.4.6", "mail forwarding loop for %s", to))
		return
	}
	// A quoted local part ("two words"@host) is looked up as it reads.
	n := r.f.parseName(unquoteLocal(local))
	if r.active[n.key] {
		r.selfNamed(to, n, n.key, depth)
		return
	}
	if r.done[n.key] {
		r.trace(depth, "%s: already expanded (duplicate)", to)
		return
	}
	r.done[n.key] = true
	r.active[n.key] = true
	defer delete(r.active, n.key)
	if r.aliases(to, n, depth) {
		return
	}
	r.mailbox(n, depth, false)
}

// selfNamed delivers an address that an alias being expanded (named)
// reaches again, rather than expanding that alias once more.
func (r *resolver) selfNamed(to string, n name, named string, depth int) {
	r.trace(depth, "%s: names itself: delivered, not expanded again", to)
	r.loop = r.loopVia(named)
	r.mailbox(n, depth, false)
	r.loop = ""
}

// loopVia describes the alias loop that came back to named:
// "lista -> listb -> lista (aliases:1, aliases:2)", or "" when no alias
// being expanded has that name.
func (r *resolver) loopVia(named string) string {
	for i, l := range r.chain {
		if l.name != named {
			continue
		}
		var names, ats []string
		for _, m := range r.chain[i:] {
			names = append(names, m.name)
			ats = append(ats, m.at)
		}
		return fmt.Sprintf("%s -> %s (%s)", strings.Join(names, " -> "), l.name, strings.Join(ats, ", "))
	}
	return ""
}

// aliases looks the whole name up in the user's aliases, then in the
// system aliases, then the name without its extension in both, as
// Postfix's local(8) looks the whole local part up in every alias map
// first: the system alias www-data comes before the user's www. It
// expands what it finds and reports whether the address was dealt with.
func (r *resolver) aliases(to string, n name, depth int) bool {
	cfg := r.f.cfg
	user := r.f.files.load(cfg.Aliases, aliasesFile, cfg.UID, false)
	switch {
	case user.missing:
		r.missing(depth, "aliases", cfg.Aliases)
		user = nil
	case user.unsafe != "" || user.readErr != nil:
		r.warn(depth, "%s ignored: %s; mail for %s is kept in the local store", cfg.Aliases, problem(user), n.key)
		r.store(depth, "aliases file ignored")
		return true
	default:
		r.leftOut(depth, user)
	}
	// The system aliases are read when first needed, as before a
	// user's alias was found: their problems are said only then.
	var sys *parsed
	sysRead := cfg.SystemAliases == ""
	system := func() *parsed {
		if sysRead {
			return sys
		}
		sysRead = true
		sys = r.f.files.load(cfg.SystemAliases, aliasesFile, cfg.UID, true)
		switch {
		case sys.missing:
			if !r.missing(depth, "system_aliases", cfg.SystemAliases) {
				r.trace(depth, "%s: %s does not exist", n.key, cfg.SystemAliases)
			}
			sys = nil
		case sys.unsafe != "" || sys.readErr != nil:
			r.warn(depth, "%s ignored: %s", cfg.SystemAliases, problem(sys))
			sys = nil
		default:
			r.leftOut(depth, sys)
		}
		return sys
	}
	names := []string{n.key}
	if n.split() {
		names = append(names, n.base)
	}
	for _, lookup := range names {
		if lookup != n.key && r.active[lookup] {
			// An alias being expanded reaches an address with its
			// name and an extension ("me: me+inbox"): delivered.
			r.selfNamed(to, n, lookup, depth)
			return true
		}
		for _, f := range []struct {
			p    func() *parsed
			path string
			src  source
		}{
			{func() *parsed { return user }, cfg.Aliases, source{file: cfg.Aliases, trusted: true, home: true}},
			{system, cfg.SystemAliases, source{file: cfg.SystemAliases}},
		} {
			p := f.p()
			if p == nil {
				continue
			}
			if a := p.lookup(lookup); a != nil {
				f.src.line = a.line
				if lookup != n.key {
					// The extension the alias did not match is
					// carried over (propagate).
					f.src.ext = n.key[len(n.base):]
				}
				r.expandAlias(p, a, depth, f.src)
				return true
			}
			if r.brokenEntry(p, lookup, n, depth) {
				return true
			}
			r.trace(depth, "%s: not in %s", lookup, f.path)
		}
	}
	return false
}

// missing says, once per recipient, that the file config.toml names
// for key does not exist, when config.toml names it (not by default):
// most likely a typo. For an aliases file, a name found nowhere else
// then waits in the queue instead of bouncing as "user unknown"
// (mailbox), as Postfix defers mail while an alias map is unavailable:
// the alias may be in the file meant. It reports whether it said so.
func (r *resolver) missing(depth int, key, path string) bool {
	s := r.f.namedSetting(key, path)
	if s == nil {
		return false
	}
	m := &missingFile{*s}
	if r.told == nil {
		r.told = map[string]bool{}
	}
	if !r.told["missing:"+key] {
		r.told["missing:"+key] = true
		r.trace(depth, "warning: %v", m)
	}
	if m.alias && r.unavailable == nil {
		r.unavailable = m
	}
	return true
}

// leftOut shows, once per recipient and only in homepost resolve, the
// lines of an aliases file that are left out because they cannot be
// read: an entry they were meant for may be missing something. The
// agent logs them when it reads the file (Load), not per message.
func (r *resolver) leftOut(depth int, p *parsed) {
	if r.note == nil || r.told[p.path] {
		return
	}
	if r.told == nil {
		r.told = map[string]bool{}
	}
	r.told[p.path] = true
	for _, err := range p.errs {
		if pe, ok := err.(*ParseError); ok && !pe.Warning && !pe.value && !pe.attached {
			r.trace(depth, "warning: %v (the line is left out)", pe)
		}
	}
}

// brokenEntry deals with mail for a name whose entry in p, for lookup
// (n's whole name or its base), cannot be read at all: taking it for no
// entry would store the mail, or bounce it as "user unknown", without a
// word about the line that meant it. It bounces as a value that cannot
// be read bounces (5.1.3, with file:line), except for the user's login
// and root, postmaster and mailer-daemon, which stay in the store with
// a warning.
func (r *resolver) brokenEntry(p *parsed, lookup string, n name, depth int) bool {
	pe := p.broken(lookup)
	if pe == nil {
		return false
	}
	at := fmt.Sprintf("%s:%d", pe.File, pe.Line)
	if strings.EqualFold(n.key, r.f.cfg.User) || strings.EqualFold(n.base, r.f.cfg.User) || systemNames[n.key] || systemNames[n.base] {
		// Mail that reaches the user's store without the entry stays
		// there: a bounce to the null sender (a DSN to postmaster)
		// would be lost.
		r.warn(depth, "%s: the entry for %s cannot be read: %s; mail is kept in the local store", at, pe.name, pe.Msg)
		r.store(depth, "its aliases entry cannot be read")
		return true
	}
	r.warn(depth, "%s: the entry for %s cannot be read: %s; this recipient bounces", at, pe.name, pe.Msg)
	r.fail(depth, courier.Perm("5.1.3", "%s: the entry for %s cannot be read: %s", at, pe.name, pe.Msg))
	return true
}

func problem(p *parsed) string {
	if p.unsafe != "" {
		return p.unsafe
	}
	return p.readErr.Error()
}

// propagate carries ext ("+cron", delimiter included) over to a local
// address without an extension of its own.
func (r *resolver) propagate(to, ext string) string {
	if ext == "" {
		return to
	}
	local, domain, hasDomain := addr.Split(to)
	if hasDomain && !r.f.isLocalDomain(domain) {
		return to
	}
	local = unquoteLocal(local)
	if r.f.parseName(local).split() {
		return to
	}
	if hasDomain {
		return addr.Requote(local + ext + "@" + domain)
	}
	return quoteLocal(local + ext)
}

func (r *resolver) expandAlias(p *parsed, a *alias, depth int, from source) {
	r.trace(depth, "%s: %s: %s", a.name, from.at(), Visible(a.rhs))
	for _, err := range p.errs {
		// A later definition that is ignored: worth a word where one
		// looks for why an edit changed nothing.
		if pe, ok := err.(*ParseError); ok && pe.Warning && pe.name == a.name {
			r.trace(depth, "%v", pe)
		}
	}
	if len(a.values) == 0 && len(a.bad) == 0 {
		r.warn(depth, "%s: alias %s has no usable value; mail is kept in the local store", from.at(), a.name)
		r.store(depth, "alias without a usable value")
		return
	}
	r.active[a.name] = true
	defer delete(r.active, a.name)
	r.chain = append(r.chain, link{a.name, from.at()})
	defer func() { r.chain = r.chain[:len(r.chain)-1] }()
	r.values(a.values, depth+1, from)
	r.unreadable(a.bad, depth+1, from, "alias "+a.name+": ", false)
}

// Visible is s as homepost resolve prints it on a line: as it is, or,
// when it holds a control character (a tab aside), a bidi control or
// bytes that are not UTF-8, quoted as the warnings and the agent's log
// quote such a value ("foo\x1b[31mRED"): written raw, an escape
// sequence from an aliases file would act on the terminal, and the
// line would not show what the file holds.
func Visible(s string) string {
	for _, r := range s {
		if r != '\t' && (r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) {
			return strconv.Quote(s)
		}
	}
	return s
}

// unreadable deals with the values of a file that cannot be read, so
// that none is dropped without a trace. In an aliases or :include: file
// each bounces (5.1.3, as Postfix's local(8) bounces a malformed alias
// entry), with a reason that names file:line and the value; in
// ~/.forward (keep) a copy is kept in the local store instead, as when
// the whole file cannot be used. Either way a warning names file:line.
func (r *resolver) unreadable(bad []badValue, depth int, from source, what string, keep bool) {
	for _, b := range bad {
		from.line = b.line
		why := b.why
		if q := strconv.Quote(b.text); !strings.Contains(why, q) {
			why = q + ": " + why
		}
		if keep {
			r.warn(depth, "%s: %s; a copy is kept in the local store", from.at(), why)
			r.store(depth, "a value of "+from.file+" cannot be read")
			continue
		}
		r.warn(depth, "%s: %s%s; this target bounces", from.at(), what, why)
		r.fail(depth, courier.Perm("5.1.3", "%s: %sbad value: %s", from.at(), what, why))
	}
}

// values expands a list read from an alias, a .forward or an include.
func (r *resolver) values(vals []value, depth int, from source) {
	for _, v := range vals {
		from.line = v.line
		r.value(v.text, depth, from)
	}
}

func (r *resolver) value(v string, depth int, from source) {
	cfg := r.f.cfg
	if from.home && strings.HasPrefix(v, "~/") {
		v = cfg.Expand(v)
	}
	switch {
	case strings.HasPrefix(v, `\`):
		r.trace(depth, "%s: %s: no further forwarding", from.at(), v)
		r.mailbox(r.f.parseName(v[1:]), depth, true)
	case strings.HasPrefix(v, ":include:"):
		path := strings.TrimSpace(v[len(":include:"):])
		if from.home {
			path = cfg.Expand(path)
		}
		r.include(path, depth, from)
	case strings.HasPrefix(v, "|"):
		if !from.trusted {
			r.warn(depth, "%s: command %s not run as %s (%s); mail is kept in the local store", from.at(), v, cfg.User, untrustedWhy(from, cfg.SystemAliases))
			r.store(depth, "command not run")
			return
		}
		r.trace(depth, "%s: -> command %s", from.at(), v[1:])
		if r.note != nil {
			// Said in homepost resolve only: delivery finds it out
			// by itself, and the agent's log has it when it reads
			// the file (Load).
			if err := courier.MissingProgram(cfg, v[1:]); err != nil {
				r.trace(depth, "warning: %v", missingProgram(from.at(), v[1:], err))
			}
		}
		r.add(Target{Kind: Command, Value: v[1:]})
	case v == "/dev/null":
		r.trace(depth, "%s: -> /dev/null: discarded", from.at())
		r.add(Target{Kind: Fail, Result: courier.OK("discarded (/dev/null)")})
	case strings.HasPrefix(v, "/") || strings.HasPrefix(v, "~/"):
		if !from.trusted || !filepath.IsAbs(v) {
			r.warn(depth, "%s: file %s not written as %s (%s); mail is kept in the local store", from.at(), v, cfg.User, untrustedWhy(from, cfg.SystemAliases))
			r.store(depth, "file target not written")
			return
		}
		if filepath.Clean(v) == "/" {
			r.warn(depth, "%s: %s is the root directory, not a mailbox; mail is kept in the local store", from.at(), v)
			r.store(depth, "bad file target")
			return
		}
		if strings.HasSuffix(v, "/") {
			r.trace(depth, "%s: -> Maildir %s", from.at(), v)
			if !isStore(cfg, v) {
				r.unwritable(depth, from, v, true)
			}
			r.add(Target{Kind: Maildir, Value: filepath.Clean(v) + "/"})
			return
		}
		// Without its '/', an existing Maildir is still that Maildir,
		// as mail(1) reads it: an mbox there could never be opened.
		p := filepath.Clean(v)
		switch dir, md := courier.DirectoryAt(p); {
		case isStore(cfg, p):
			// Even a directory not yet completed: delivery does.
			r.trace(depth, "%s: -> local store %s (%s is its path)", from.at(), cfg.Store, v)
			r.add(Target{Kind: Store, Value: cfg.User})
		case md:
			r.trace(depth, "%s: -> Maildir %s/ (a directory with cur/, new/ and tmp/)", from.at(), p)
			r.unwritable(depth, from, p, true)
			r.add(Target{Kind: Maildir, Value: p + "/"})
		case dir:
			r.trace(depth, "%s: -> mbox %s", from.at(), v)
			r.trace(depth, "warning: %v", dirNotMaildir(from.at(), p))
			r.add(Target{Kind: Mbox, Value: p})
		default:
			r.trace(depth, "%s: -> mbox %s", from.at(), v)
			r.unwritable(depth, from, p, false)
			r.add(Target{Kind: Mbox, Value: p})
		}
	default:
		if p := r.propagate(v, from.ext); p != v {
			r.trace(depth, "%s: %s becomes %s (the extension is kept)", from.at(), v, p)
			v = p
		}
		r.address(v, depth, from)
	}
}

// dirNotMaildir is the warning for a file target, read at "file:line",
// that names without its trailing '/' a directory that is no Maildir:
// its mail waits in the queue (courier.Mbox defers it) until the
// directory is a Maildir; written with the '/', it is made one.
func dirNotMaildir(at, path string) error {
	return fmt.Errorf("%s: %s is a directory but not a Maildir: end the line with '/' to make it one; mail to it waits in the queue", at, path)
}

// unwritable traces, in homepost resolve only, why the file target
// path read at from can never be written (courier.Unwritable). Delivery
// finds it out by itself, and the agent's log has it when it reads the
// file (Load).
func (r *resolver) unwritable(depth int, from source, path string, isMaildir bool) {
	if r.note == nil {
		return
	}
	if err := courier.Unwritable(path, isMaildir, r.f.cfg.UID); err != nil {
		r.trace(depth, "warning: %v", unwritableTarget(from.at(), err))
	}
}

// unwritableTarget is the warning for a file target, read at
// "file:line", that the agent can never write (courier.Unwritable):
// like every local path problem the user can fix, its mail waits in
// the queue rather than bouncing, but no retry helps until the user
// does.
func unwritableTarget(at string, err error) error {
	return fmt.Errorf("%s: %v; mail to it waits in the queue until that is fixed, and bounces after max_queue_lifetime", at, err)
}

// isStore reports whether path is the local store's, which a file
// target names as the store whether or not it ends with '/' (add).
func isStore(cfg *config.Config, path string) bool {
	_, p := cfg.StoreKind()
	return filepath.Clean(path) == filepath.Clean(p)
}

// lineProblems returns, in the order of the lines, a warning for each
// value of p that reads well but will not be delivered as meant: a file
// target that names a directory but no Maildir, or that the agent can
// never write (courier.Unwritable: a symbolic link, another user's
// mbox, a directory the user cannot create in; its mail waits in the
// queue), a command whose program is not found (courier.MissingProgram:
// its mail bounces) and, with names, a local name that is neither a
// login nor an alias (its mail bounces as "user unknown"). p is a file
// of the user's, whose file targets are written, whose commands run as
// the user and where "~/" is the home; the lines that resolve would not
// obey as such targets are skipped. Names are looked up in the password
// database, which may have to ask getent(1): the agent, reading the
// files at a reload (Load), does without them.
func (f *Forwarder) lineProblems(p *parsed, names bool) []error {
	cfg := f.cfg
	var out []error
	check := func(vals []value) {
		for _, v := range vals {
			at := fmt.Sprintf("%s:%d", p.path, v.line)
			if cmd, ok := strings.CutPrefix(v.text, "|"); ok {
				if err := courier.MissingProgram(cfg, cmd); err != nil {
					out = append(out, missingProgram(at, cmd, err))
				}
				continue
			}
			t := v.text
			if strings.HasPrefix(t, "~/") {
				t = cfg.Expand(t)
			}
			if filepath.IsAbs(t) {
				if filepath.Clean(t) == "/" || t == "/dev/null" || isStore(cfg, t) {
					continue
				}
				var err error
				switch dir, md := courier.DirectoryAt(t); {
				case strings.HasSuffix(t, "/") || md:
					err = courier.Unwritable(t, true, cfg.UID)
				case dir:
					out = append(out, dirNotMaildir(at, filepath.Clean(t)))
				default:
					err = courier.Unwritable(t, false, cfg.UID)
				}
				if err != nil {
					out = append(out, unwritableTarget(at, err))
				}
				continue
			}
			if names {
				if err := f.unknownName(p.path, v); err != nil {
					out = append(out, err)
				}
			}
		}
	}
	check(p.values)
	for _, a := range p.aliases {
		check(a.values)
	}
	return out
}

// missingProgram is the warning for a command, read at "file:line",
// whose program is not found: the command never runs, and every message
// to it bounces (5.3.0, "not found").
func missingProgram(at, command string, err error) error {
	return fmt.Errorf("%s: command %q: %v; every message to it bounces", at, command, err)
}

// unknownName is the warning for v, a value of path, a file of the
// user's, when it is a local name, bare or not, that resolves to nothing
// but a 5.1.1 "user unknown" for that name itself: neither a login nor
// an alias, now. A path written without its leading
// '/' or "~/" (fwd/) is read so, and the warning says how a path is
// written. A name that resolves otherwise (an alias, another login, a
// remote address through other_users = relay, a lookup that cannot
// answer for now) is no warning.
func (f *Forwarder) unknownName(path string, v value) error {
	t := v.text
	if strings.HasPrefix(t, ":") {
		return nil
	}
	written := strings.TrimPrefix(t, `\`)
	local, domain, hasDomain := addr.Split(written)
	if hasDomain && !f.isLocalDomain(domain) {
		return nil
	}
	key := f.parseName(unquoteLocal(local)).key
	r := f.newResolver(t, nil, nil)
	r.value(t, 1, source{file: path, line: v.line, trusted: true, home: true})
	if len(r.targets) != 1 {
		return nil
	}
	res := r.targets[0].Result
	if r.targets[0].Kind != Fail || res.DSN != "5.1.1" || res.Reason != key+": user unknown" {
		return nil
	}
	hint := ""
	if strings.Contains(key, "/") {
		hint = "; a file or a Maildir is written with a leading / or ~/"
	}
	return fmt.Errorf("%s:%d: %s is neither a login here nor an alias: every message to it bounces (5.1.1 user unknown)%s", path, v.line, written, hint)
}

func untrustedWhy(from source, system string) string {
	if from.file == system {
		return "it comes from the system aliases"
	}
	return "the file is not yours"
}

// include expands a :include: file. Its values are obeyed like the
// user's own only when the user owns it.
func (r *resolver) include(path string, depth int, from source) {
	cfg := r.f.cfg
	if !filepath.IsAbs(path) {
		r.warn(depth, "%s: :include:%s is not an absolute path; mail is kept in the local store", from.at(), path)
		r.store(depth, "bad :include:")
		return
	}
	key := ":include:" + path
	if r.active[key] {
		r.trace(depth, "%s: :include:%s includes itself: skipped", from.at(), path)
		return
	}
	p := r.f.files.load(path, listFile, cfg.UID, false)
	if !p.usable() {
		why := "does not exist"
		if !p.missing {
			why = problem(p)
		}
		r.warn(depth, "%s: :include:%s ignored: %s; mail is kept in the local store", from.at(), path, why)
		r.store(depth, ":include: file ignored")
		return
	}
	r.trace(depth, "%s: :include:%s", from.at(), path)
	r.badLines(depth, p)
	if len(p.values) == 0 && len(p.bad) == 0 {
		if len(p.errs) > 0 {
			r.store(depth, path+" has no usable value")
			return
		}
		r.trace(depth, "%s is empty", path)
		return
	}
	r.active[key] = true
	defer delete(r.active, key)
	src := source{file: path, trusted: p.owner == cfg.UID, home: p.owner == cfg.UID}
	r.values(p.values, depth+1, src)
	r.unreadable(p.bad, depth+1, src, "", false)
}

// badLines logs the lines of a .forward or :include: file that could not
// be read: they are left out, and the user must hear of it (homepost
// check and newaliases say so too). A value that cannot be read is
// unreadable's.
func (r *resolver) badLines(depth int, p *parsed) {
	for _, err := range p.errs {
		if pe, ok := err.(*ParseError); ok && pe.value {
			continue
		}
		if IsWarning(err) {
			r.trace(depth, "%v", err)
			continue
		}
		r.warn(depth, "%v; the line is left out", err)
	}
}

// mailbox is the end of alias expansion for a local name: the user's
// .forward (unless bare, as written "\user") or the store; another user
// follows other_users; a name that is no login here bounces (users.go).
// The whole name comes first, then the name without its extension,
// each as the user's login, a system name, then another login: with
// recipient_delimiter "-", www-data is the login www-data, and
// alice-lists is alice's extension only when no login has that name.
func (r *resolver) mailbox(n name, depth int, bare bool) {
	cfg := r.f.cfg
	if r.mine(n.key, "", depth, bare) {
		return
	}
	if n.split() {
		// Another user's whole login matters here only when the base
		// is the user's own or a system name: otherwise both lead to
		// other_users, and with relay no login is looked up at all.
		if cfg.OtherUsers != "relay" || strings.EqualFold(n.base, cfg.User) || systemNames[n.base] {
			switch ok, err := r.login(n.key, n.written); {
			case err != nil:
				r.trace(depth, "%s: %v", n.key, err)
				r.fail(depth, courier.Temp("4.3.0", "%s: %v", n.key, err))
				return
			case ok:
				r.otherUser(n.key, n.key, depth)
				return
			}
			r.trace(depth, "%s: no login of that name: looked up as %s", n.key, n.base)
		}
		suffix := ""
		if n.ext != "" {
			suffix = n.sep + n.ext
		}
		if r.mine(n.base, suffix, depth, bare) {
			return
		}
	}
	if cfg.OtherUsers != "relay" {
		// With other_users = relay the relay domain's server knows its
		// users; otherwise a name must be a login here.
		switch ok, err := r.login(n.base, n.writtenBase); {
		case err != nil:
			r.trace(depth, "%s: %v", n.base, err)
			r.fail(depth, courier.Temp("4.3.0", "%s: %v", n.key, err))
			return
		case !ok && r.loop != "":
			// A name that is no login, reached again through the
			// aliases it names: "user unknown" would hide that the
			// aliases file does define it.
			r.trace(depth, "%s: no such user: the aliases loop", n.key)
			r.fail(depth, courier.Perm("5.4.6", "alias loop: %s", r.loop))
			return
		case !ok && r.unavailable != nil:
			m := r.unavailable
			r.trace(depth, "%s: no such user, but the %s %s named at %s does not exist", n.key, m.what, m.path, m.at)
			r.fail(depth, courier.Temp("4.3.0", "%s: not found: the %s %s named at %s does not exist (the mail waits until it does, or the setting is fixed)", n.key, m.what, m.path, m.at))
			return
		case !ok:
			r.trace(depth, "%s: no such user (not a login on this machine, nor an alias)", n.key)
			r.fail(depth, courier.Perm("5.1.1", "%s: user unknown", n.key))
			return
		}
	}
	r.otherUser(n.key, n.base, depth)
}

// mine deals with name when it is the user's login (its .forward, with
// the extension suffix, delimiter included, naming .forward+ext first)
// or root, postmaster or mailer-daemon (the user's store). It reports
// whether it did.
func (r *resolver) mine(name, suffix string, depth int, bare bool) bool {
	cfg := r.f.cfg
	switch {
	case strings.EqualFold(name, cfg.User) && bare:
		r.store(depth, `\`+cfg.User)
	case strings.EqualFold(name, cfg.User):
		r.forward(suffix, depth)
	case systemNames[name]:
		r.store(depth, name+" reaches "+cfg.User)
	default:
		return false
	}
	return true
}

// login reports whether name is a login here: lowercased, as the
// aliases are read, then as written (the password database is
// case-sensitive: Debian-exim).
func (r *resolver) login(name, written string) (bool, error) {
	ok, err := lookupUser(name)
	if ok || err != nil || written == name {
		return ok, err
	}
	return lookupUser(written)
}

// otherUser follows other_users for key, another user's address; login
// is the name found as a login (key, or key without its extension).
func (r *resolver) otherUser(key, login string, depth int) {
	cfg := r.f.cfg
	switch cfg.OtherUsers {
	case "relay":
		addr := key + "@" + cfg.RelayDomain
		r.trace(depth, "%s: another user: other_users = relay -> %s", key, addr)
		if r.looped(addr) {
			r.fail(depth, courier.Perm("5.4.6", "mail forwarding loop for %s", addr))
			return
		}
		r.add(Target{Kind: Remote, Value: addr})
	case "bounce":
		r.trace(depth, "%s: another user (login %s): other_users = bounce", key, login)
		r.fail(depth, courier.Perm("5.1.1", "%s: mail for other local users is not accepted (other_users = bounce)", key))
	default:
		r.store(depth, key+" is another user (login "+login+"): other_users = me")
	}
}

// forward expands the user's .forward (".forward+ext" first for an
// extension: suffix is "+ext", with the delimiter that was found); no
// file, an empty one or an unsafe one means the store.
func (r *resolver) forward(suffix string, depth int) {
	cfg := r.f.cfg
	var p *parsed
	if suffix != "" && !strings.ContainsAny(suffix, "/") {
		p = r.f.files.load(cfg.Forward+suffix, listFile, cfg.UID, false)
		if p.missing {
			p = nil
		}
	}
	if p == nil {
		p = r.f.files.load(cfg.Forward, listFile, cfg.UID, false)
	}
	switch {
	case p.missing:
		r.missing(depth, "forward", cfg.Forward)
		r.store(depth, "no "+cfg.Forward)
		return
	case !p.usable():
		r.warn(depth, "%s ignored: %s; mail is kept in the local store", p.path, problem(p))
		r.store(depth, p.path+" ignored")
		return
	case len(p.values) == 0 && len(p.bad) == 0 && len(p.errs) > 0:
		r.badLines(depth, p)
		r.store(depth, p.path+" has no usable value")
		return
	case len(p.values) == 0 && len(p.bad) == 0:
		r.store(depth, p.path+" is empty")
		return
	}
	r.badLines(depth, p)
	key := ":forward:" + p.path
	if r.active[key] {
		r.store(depth, cfg.User+" in their own "+p.path)
		return
	}
	r.trace(depth, "%s: your login: forwarding from %s", cfg.User, p.path)
	r.active[key] = true
	defer delete(r.active, key)
	src := source{file: p.path, trusted: true, home: true}
	r.values(p.values, depth+1, src)
	r.unreadable(p.bad, depth+1, src, "", true)
}
