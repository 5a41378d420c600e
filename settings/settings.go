// Package settings holds homepost's configuration as values: the Config
// type with every key's name, the embedded defaults, the paths derived
// from them, and their validation. Package config reads config.toml into
// it with a full TOML parser and reports errors by file and line.
//
// It is apart from config for the sake of sendmail, which starts once per
// message: a Go program runs the initialisers of every package it links,
// whether it calls them or not, and this package links no TOML parser, no
// network package and no regular expressions. Its Read understands the
// simple files most users write (see Read); a file it does not fully
// understand is left to package config, so that there is one reading of
// the format's corners and one set of error messages.
package settings

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config is the parsed configuration with every path made absolute.
type Config struct {
	// File is the config file that was read, or "" when defaults are used.
	File string `toml:"-"`

	StateDir      string   `toml:"state_dir"`
	Store         string   `toml:"store"`
	Outbox        string   `toml:"outbox"`
	SystemAliases string   `toml:"system_aliases"`
	Aliases       string   `toml:"aliases"`
	Forward       string   `toml:"forward"`
	Hostname      string   `toml:"hostname"`
	LocalDomains  []string `toml:"local_domains"`

	RecipientDelimiter  string   `toml:"recipient_delimiter"`
	OtherUsers          string   `toml:"other_users"`
	RelayDomain         string   `toml:"relay_domain"`
	CommandTimeout      Duration `toml:"command_timeout"`
	MaxQueueLifetime    Duration `toml:"max_queue_lifetime"`
	DeliverWithoutAgent bool     `toml:"deliver_without_agent"`

	Relay Relay `toml:"relay"`
	SMTP  SMTP  `toml:"smtp"`

	// User is the login name of the user homepost works for; Home is their
	// home directory. They are not config keys.
	User     string `toml:"-"`
	Home     string `toml:"-"`
	FullName string `toml:"-"`
	UID      int    `toml:"-"`
}

// Relay is the [relay] table: the smarthost for remote mail.
type Relay struct {
	URL             string   `toml:"url"`
	Username        string   `toml:"username"`
	Password        string   `toml:"password"`
	PasswordCommand string   `toml:"password_command"`
	From            string   `toml:"from"`
	CAFile          string   `toml:"ca_file"`
	Insecure        bool     `toml:"insecure"`
	ConnectTimeout  Duration `toml:"connect_timeout"`
	CommandTimeout  Duration `toml:"command_timeout"`
	DataTimeout     Duration `toml:"data_timeout"`
}

// SMTP is the [smtp] table: the agent's SMTP listener for programs that
// only speak SMTP.
type SMTP struct {
	// Enabled makes the agent listen on Socket (and Listen).
	Enabled bool `toml:"enabled"`
	// Socket is the Unix socket; its directory is kept mode 0700.
	// Default: $XDG_RUNTIME_DIR/homepost/smtp, or <state_dir>/smtp where
	// there is no runtime directory (RuntimeDir).
	Socket string `toml:"socket"`
	// Listen holds loopback TCP addresses ("127.0.0.1:2525", "[::1]:2525").
	Listen []string `toml:"listen"`
	// SecretFile holds the password that a client of another user must
	// give (AUTH PLAIN or LOGIN) on a TCP address; created at first use.
	SecretFile     string   `toml:"secret_file"`
	MaxSessions    int      `toml:"max_sessions"`
	MaxMessageSize Size     `toml:"max_message_size"`
	IdleTimeout    Duration `toml:"idle_timeout"`
}

// Size is a byte count: a TOML integer, or a string with a K, M or G
// suffix (powers of 1024), as "50M".
type Size int64

// UnmarshalTOML accepts an integer or a string such as "50M".
func (s *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("negative size %d", v)
		}
		*s = Size(v)
		return nil
	case string:
		n, err := ParseSize(v)
		*s = Size(n)
		return err
	}
	return fmt.Errorf("a size is an integer or a string such as \"50M\", not %T", v)
}

// MarshalText writes the size in bytes.
func (s Size) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(s), 10)), nil }

// ParseSize parses "1048576", "512K", "50M", "1G".
func ParseSize(str string) (int64, error) {
	t := strings.TrimSpace(str)
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			mult, t = 1<<10, t[:n-1]
		case 'm', 'M':
			mult, t = 1<<20, t[:n-1]
		case 'g', 'G':
			mult, t = 1<<30, t[:n-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q (use e.g. 1048576, 512K, 50M, 1G)", str)
	}
	return n * mult, nil
}

// Duration is a time.Duration that also accepts a "d" (day) unit, as
// "5d" or "1d12h", because queue lifetimes are counted in days.
type Duration struct{ time.Duration }

// UnmarshalText parses "90s", "10m", "5d", "1d12h".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration in Go's notation.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// ParseDuration is time.ParseDuration plus a leading whole-days term ("5d",
// "2d12h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	orig := s
	var days int64
	tooLong := fmt.Errorf("duration %q is too long (at most %d days)", orig, maxDays)
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, tooLong
		}
		if err != nil {
			return 0, invalidDuration(orig)
		}
		days, s = n, s[i+1:]
		if s == "" {
			s = "0s"
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		if t := strings.TrimLeft(s, "+-"); t != "" && t[0] >= '0' && t[0] <= '9' && strings.Contains(err.Error(), "invalid duration") && isOverflow(s) {
			return 0, tooLong
		}
		return 0, invalidDuration(orig)
	}
	if v < 0 || days < 0 {
		return 0, fmt.Errorf("negative duration %q", orig)
	}
	// A time.Duration holds about 292 years: more would wrap around
	// and read as a negative duration.
	if days > maxDays || time.Duration(days)*24*time.Hour > math.MaxInt64-v {
		return 0, tooLong
	}
	return time.Duration(days)*24*time.Hour + v, nil
}

// DurationHint shows how a duration is written: every error for a
// duration that cannot be read ends with it, whichever term is wrong.
const DurationHint = "(use e.g. 90s, 10m, 2h, 5d)"

// invalidDuration is the error for a duration that cannot be read.
func invalidDuration(s string) error { return fmt.Errorf("invalid duration %q %s", s, DurationHint) }

// maxDays is the most whole days a time.Duration holds.
const maxDays = int64(math.MaxInt64 / (24 * time.Hour))

// isOverflow reports whether s, which time.ParseDuration refused, is
// a well-formed duration too large for it ("2562048h"): numbers and
// known units only.
func isOverflow(s string) bool {
	s = strings.TrimPrefix(s, "+")
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return false
		}
		s = s[i:]
		j := 0
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		switch s[:j] {
		case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
		default:
			return false
		}
		s = s[j:]
	}
	return true
}

// Error is a configuration error; it exits 78 (EX_CONFIG).
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
	// Unsafe says that others than the user could change the file,
	// or the queue's directories: nothing of it is obeyed.
	Unsafe bool
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if loc != "" {
		loc += ": "
	}
	if e.Key != "" {
		return fmt.Sprintf("%s%s: %s", loc, e.Key, e.Msg)
	}
	return loc + e.Msg
}

// DefaultPath is where the config file is looked for: $HOMEPOST_CONFIG, else
// $XDG_CONFIG_HOME/homepost/config.toml.
func DefaultPath(home string) string {
	if p := os.Getenv("HOMEPOST_CONFIG"); p != "" {
		return p
	}
	return filepath.Join(xdg("XDG_CONFIG_HOME", home, ".config"), "homepost", "config.toml")
}

func xdg(env, home, def string) string {
	if v := os.Getenv(env); v != "" && filepath.IsAbs(v) {
		return v
	}
	return filepath.Join(home, def)
}

// Identity is who homepost runs for.
type Identity struct {
	user, home, fullName string
	uid                  int
}

// NewIdentity builds an Identity; tests use it to run as a made-up user.
func NewIdentity(login, home, fullName string, uid int) Identity {
	return Identity{login, home, fullName, uid}
}

// CurrentUser finds the login name and home of the invoking user. The
// login name comes from the uid, as cron and sudo may set $USER oddly; the
// home is chosen by homeDir.
func CurrentUser() (Identity, error) {
	id := Identity{uid: os.Getuid()}
	if login, home, name, ok := lookupUID(id.uid); ok {
		id.user, id.home = login, home
		id.fullName, _, _ = strings.Cut(name, ",")
	}
	if id.user == "" {
		id.user = os.Getenv("LOGNAME")
		if id.user == "" {
			id.user = os.Getenv("USER")
		}
	}
	id.home = homeDir(os.Getenv("HOME"), id.home, id.uid)
	if id.user == "" {
		return id, fmt.Errorf("cannot determine the login name of uid %d", id.uid)
	}
	if id.home == "" {
		return id, fmt.Errorf("cannot determine the home directory of %s", id.user)
	}
	return id, nil
}

// homeDir picks the home directory of the user uid from $HOME and the
// password database's entry. $HOME wins so that tests (and users) can
// move it, except:
//   - "/": that is what programs set when they mean "no home" (sudo runs
//     its mailer as root with HOME=/), and mail queued there would wait
//     in /.local where no agent looks;
//   - for a user other than root, a directory that another user owns: a
//     daemon started from a root shell (cron, atd) runs a user's mailer
//     with its own HOME=/root, where that user can queue nothing (every
//     job's mail was refused with exit 78, and cron dropped it). Root
//     keeps a $HOME of another user's (sudo -E): what it queues there is
//     refused with advice, rather than taken as root's own.
func homeDir(env, passwd string, uid int) string {
	if env == "" || !filepath.IsAbs(env) || (filepath.Clean(env) == "/" && passwd != "") {
		return passwd
	}
	if uid != 0 && passwd != "" && filepath.Clean(env) != filepath.Clean(passwd) {
		if fi, err := os.Stat(env); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid {
				return passwd
			}
		}
	}
	return env
}

// Defaults returns the embedded configuration for the given user.
func Defaults(id Identity) *Config {
	c := Base()
	c.Finish(id)
	return c
}

// Base holds the defaults that do not depend on the user: what a
// config file's keys are decoded over before Finish.
func Base() *Config {
	return &Config{
		SystemAliases:       "/etc/aliases",
		RecipientDelimiter:  "+",
		OtherUsers:          "me",
		CommandTimeout:      Duration{10 * time.Minute},
		MaxQueueLifetime:    Duration{5 * 24 * time.Hour},
		DeliverWithoutAgent: true,
		Relay: Relay{
			ConnectTimeout: Duration{30 * time.Second},
			CommandTimeout: Duration{5 * time.Minute},
			DataTimeout:    Duration{10 * time.Minute},
		},
		SMTP: SMTP{
			Enabled:        true,
			MaxSessions:    100,
			MaxMessageSize: 64 << 20,
			IdleTimeout:    Duration{5 * time.Minute},
		},
	}
}

// Finish fills derived values and makes paths absolute, once the keys
// of a config file (if any) are set.
func (c *Config) Finish(id Identity) {
	c.User, c.Home, c.FullName, c.UID = id.user, id.home, id.fullName, id.uid
	state := filepath.Join(xdg("XDG_STATE_HOME", id.home, ".local/state"), "homepost")
	if c.StateDir == "" {
		c.StateDir = state
	}
	if c.Outbox == "" {
		c.Outbox = filepath.Join(c.StateDir, "outbox")
	}
	if c.Store == "" {
		c.Store = "~/Maildir/"
	}
	if c.Aliases == "" {
		c.Aliases = filepath.Join(xdg("XDG_CONFIG_HOME", id.home, ".config"), "homepost", "aliases")
	}
	if c.Forward == "" {
		c.Forward = "~/.forward"
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
		if c.Hostname == "" {
			c.Hostname = "localhost"
		}
	}
	// The absolute form ("mail.example.org.", as zone files and some
	// hosts' hostname -f write it) names the same host; with the dot,
	// the name would make From, Message-ID and MAIL FROM invalid.
	if h := strings.TrimSuffix(c.Hostname, "."); h != "" && !strings.HasSuffix(h, ".") {
		c.Hostname = h
	}
	c.StateDir = c.Expand(c.StateDir)
	c.Outbox = c.Expand(c.Outbox)
	c.Aliases = c.Expand(c.Aliases)
	c.Forward = c.Expand(c.Forward)
	c.SystemAliases = c.Expand(c.SystemAliases)
	if kind, p := c.StoreKind(); kind == "mbox" {
		c.Store = "mbox:" + c.Expand(p)
	} else {
		c.Store = c.Expand(p)
		if !strings.HasSuffix(c.Store, "/") {
			c.Store += "/"
		}
	}
	c.Relay.CAFile = c.Expand(c.Relay.CAFile)
	if c.SMTP.Socket == "" {
		c.SMTP.Socket = filepath.Join(c.StateDir, "smtp")
		if rt, _ := RuntimeDir(); rt != "" {
			c.SMTP.Socket = filepath.Join(rt, "homepost", "smtp")
		}
	}
	if c.SMTP.SecretFile == "" {
		c.SMTP.SecretFile = filepath.Join(xdg("XDG_CONFIG_HOME", id.home, ".config"), "homepost", "smtp-secret")
	}
	c.SMTP.Socket = c.Expand(c.SMTP.Socket)
	if len(c.SMTP.Listen) == 0 {
		c.SMTP.Listen = nil
	}
	c.SMTP.SecretFile = c.Expand(c.SMTP.SecretFile)
	// localhost, localhost.localdomain and the host name are always
	// local: homepost writes the host name into From and Message-ID of
	// what it queues, and system mail goes to root@localhost. The
	// local_domains key adds to them; a user who sets it to their own
	// domain means "this one too", not "only this one".
	always := []string{"localhost", "localhost.localdomain", c.Hostname}
	if short, _, ok := strings.Cut(c.Hostname, "."); ok {
		always = append(always, short)
	}
	if len(c.LocalDomains) == 0 {
		// Debian's mail name (what mutt, cron and Postfix put after
		// the @ of a local address) names this machine too.
		if b, err := readFile(MailnameFile); err == nil {
			if name := strings.TrimSpace(string(b)); name != "" && !strings.ContainsAny(name, " \t/@") {
				always = append(always, name)
			}
		}
	}
	domains := make([]string, 0, len(always)+len(c.LocalDomains))
	for _, d := range append(always, c.LocalDomains...) {
		if d = strings.ToLower(strings.TrimSuffix(d, ".")); !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	c.LocalDomains = domains
}

// Expand replaces a leading "~/" with the user's home directory.
func (c *Config) Expand(p string) string {
	if p == "~" {
		return c.Home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(c.Home, p[2:]) + trailingSlash(p)
	}
	return p
}

func trailingSlash(p string) string {
	if strings.HasSuffix(p, "/") && len(p) > 1 {
		return "/"
	}
	return ""
}

// StoreKind splits the store setting into "maildir" or "mbox" and its path.
// "mbox:/path" is an mbox; "maildir:/path" or a bare path is a Maildir.
func (c *Config) StoreKind() (kind, path string) {
	if p, ok := strings.CutPrefix(c.Store, "mbox:"); ok {
		return "mbox", p
	}
	if p, ok := strings.CutPrefix(c.Store, "maildir:"); ok {
		return "maildir", p
	}
	return "maildir", c.Store
}

// IsLocalDomain reports whether domain names this machine.
func (c *Config) IsLocalDomain(domain string) bool {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, d := range c.LocalDomains {
		if d == domain {
			return true
		}
	}
	return false
}

// MailnameFile is Debian's mail name file; a variable so that tests can
// point it elsewhere.
var MailnameFile = "/etc/mailname"

// LockPath is the agent's lock file; it holds the agent's pid.
func (c *Config) LockPath() string { return filepath.Join(c.StateDir, "agent.lock") }

// OtherOutboxes are the outboxes this configuration would have used
// without its outbox and state_dir keys: the default place, and the one
// in the configured state_dir. Mail queued there before a change of
// those keys is found by nothing but a look there (see
// submit.Stranded).
func (c *Config) OtherOutboxes() []string {
	var out []string
	for _, p := range []string{
		filepath.Join(xdg("XDG_STATE_HOME", c.Home, ".local/state"), "homepost", "outbox"),
		filepath.Join(c.StateDir, "outbox"),
	} {
		if filepath.Clean(p) != filepath.Clean(c.Outbox) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// LogPath is where a detached one-shot agent writes its log.
func (c *Config) LogPath() string { return filepath.Join(c.StateDir, "agent.log") }

// Validate checks the values of a finished configuration. The error's
// Key names the first key found wrong; the caller knows File and Line.
func (c *Config) Validate() *Error {
	if errs := c.Problems(); len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// Problems returns every error of the values, each with its key, so
// that a file's errors can be shown at once; the [relay] table's are
// Relay.Check's.
func (c *Config) Problems() []*Error {
	var errs []*Error
	switch c.OtherUsers {
	case "me", "relay", "bounce":
	default:
		errs = append(errs, &Error{Key: "other_users", Msg: fmt.Sprintf("%q is not one of me, relay, bounce", c.OtherUsers)})
	}
	if c.OtherUsers == "relay" && c.RelayDomain == "" {
		errs = append(errs, &Error{Key: "relay_domain", Msg: `other_users = "relay" needs relay_domain`})
	}
	if len(c.RecipientDelimiter) > 1 {
		errs = append(errs, &Error{Key: "recipient_delimiter", Msg: "must be one character or empty"})
	}
	for _, p := range []struct{ key, val string }{
		{"state_dir", c.StateDir}, {"outbox", c.Outbox}, {"aliases", c.Aliases}, {"forward", c.Forward},
	} {
		if !filepath.IsAbs(p.val) {
			errs = append(errs, &Error{Key: p.key, Msg: fmt.Sprintf("%q is not an absolute path (or ~/...)", p.val)})
		}
	}
	if c.SystemAliases != "" && !filepath.IsAbs(c.SystemAliases) {
		errs = append(errs, &Error{Key: "system_aliases", Msg: fmt.Sprintf("%q is not an absolute path", c.SystemAliases)})
	}
	if _, p := c.StoreKind(); !filepath.IsAbs(p) {
		errs = append(errs, &Error{Key: "store", Msg: fmt.Sprintf("%q is not an absolute path (use ~/Maildir/ or mbox:/path)", c.Store)})
	}
	if kind, p := c.StoreKind(); kind == "mbox" && strings.HasSuffix(p, "/") {
		// Delivery would make a directory there, and then find that
		// it cannot append to it.
		dir := strings.TrimRight(p, "/")
		if home := strings.TrimSuffix(c.Home, "/"); home != "" && strings.HasPrefix(dir, home+"/") {
			dir = "~" + dir[len(home):]
		}
		errs = append(errs, &Error{Key: "store", Msg: fmt.Sprintf("an mbox path cannot end in /; for a Maildir write store = %q, for an mbox store = %q", dir+"/", "mbox:"+dir)})
	}
	if _, store := c.StoreKind(); filepath.IsAbs(store) && filepath.IsAbs(c.Outbox) && Overlaps(c.Outbox, store) {
		errs = append(errs, &Error{Key: "outbox", Msg: fmt.Sprintf("%q overlaps the store %q: the agent would take delivered mail for queue files", c.Outbox, store)})
	}
	if c.MaxQueueLifetime.Duration <= 0 {
		errs = append(errs, &Error{Key: "max_queue_lifetime", Msg: "must be positive"})
	}
	if c.CommandTimeout.Duration <= 0 {
		errs = append(errs, &Error{Key: "command_timeout", Msg: "must be positive"})
	}
	errs = append(errs, c.SMTP.validate()...)
	errs = append(errs, c.relayLoops()...)
	return append(errs, c.Relay.Check()...)
}

// CheckHostname accepts a domain name as mail names a host: labels of
// letters, digits, hyphens (and underscores, which real host names have)
// joined by dots. The name goes into addresses, Message-IDs, Received
// fields and Maildir file names, where a space or an '@' breaks them.
//
// Only a configured name is checked: the machine's own is taken as it is.
func CheckHostname(h string) error {
	if h == "" || len(h) > 253 {
		return fmt.Errorf("%q is not a host name", h)
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not a host name (an empty or too long label)", h)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a host name (a label begins or ends with a hyphen)", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("%q is not a host name (%q is not a letter, digit or hyphen)", h, r)
			}
		}
	}
	return nil
}

// Overlaps reports whether one of two absolute paths is the other or
// lies inside it.
func Overlaps(a, b string) bool {
	a, b = filepath.Clean(a), filepath.Clean(b)
	inside := func(p, dir string) bool {
		return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
	}
	return inside(a, b) || inside(b, a)
}

func (s *SMTP) validate() []*Error {
	var errs []*Error
	for _, p := range []struct{ key, val string }{{"smtp.socket", s.Socket}, {"smtp.secret_file", s.SecretFile}} {
		if !filepath.IsAbs(p.val) {
			errs = append(errs, &Error{Key: p.key, Msg: fmt.Sprintf("%q is not an absolute path (or ~/...)", p.val)})
		}
	}
	// A Unix socket's path is limited to the 108 bytes of sun_path.
	if len(s.Socket) > 107 {
		errs = append(errs, &Error{Key: "smtp.socket", Msg: fmt.Sprintf("%q is longer than the 107 bytes a Unix socket's path may have", s.Socket)})
	}
	for _, a := range s.Listen {
		if err := CheckLoopback(a); err != nil {
			errs = append(errs, &Error{Key: "smtp.listen", Msg: err.Error()})
		}
	}
	if s.MaxSessions <= 0 {
		errs = append(errs, &Error{Key: "smtp.max_sessions", Msg: "must be positive"})
	}
	if s.MaxMessageSize <= 0 {
		errs = append(errs, &Error{Key: "smtp.max_message_size", Msg: "must be positive"})
	}
	if s.IdleTimeout.Duration <= 0 {
		errs = append(errs, &Error{Key: "smtp.idle_timeout", Msg: "must be positive"})
	}
	return errs
}

// CheckLoopback accepts "IP:PORT" with a loopback IP (127.0.0.0/8, ::1)
// or "localhost:PORT". Anything else could be reached from another
// machine, and mail accepted there is relayed through the user's own
// smarthost account.
func CheckLoopback(hostport string) error {
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("%q: not HOST:PORT (e.g. \"127.0.0.1:2525\")", hostport)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q: the port must be a number from 1 to 65535", hostport)
	}
	if host == "localhost" {
		return nil
	}
	if !isLoopback(host) {
		return fmt.Errorf("%q is not a loopback address (127.0.0.1, [::1] or localhost): other machines could submit through your smarthost", hostport)
	}
	return nil
}

// Home is the identity's home directory.
func (id Identity) Home() string { return id.home }
