package settings

import (
	"fmt"
	"strconv"
	"strings"
)

// The [relay] table is checked when the file is read, so that a
// mistyped url ("smtps//host") is an error with file:line at once, not a
// message deferred later with no line to look at. Package relay makes
// its client from the same parse (ParseRelayURL) and the same checks
// (Relay.Check). Like the rest of this package, the parse does without
// package net and net/url.

// Relay transports, as the url's scheme names them.
const (
	RelayTLS      = "smtps"         // TLS from the first byte
	RelayStartTLS = "smtp+starttls" // plain TCP upgraded with STARTTLS, required
	RelayPlain    = "smtp"          // no TLS
	RelayExec     = "exec"          // a program run per message
)

// Endpoint is what a relay url names.
type Endpoint struct {
	Kind string   // RelayTLS, RelayStartTLS, RelayPlain or RelayExec
	Host string   // smtp kinds: a host name or an address, without brackets
	Port string   // smtp kinds: the port; the scheme's own when none is given
	Argv []string // exec: the program and its arguments
}

// Addr is host:port for dialling, with brackets around an IPv6 address.
func (e Endpoint) Addr() string {
	if index(e.Host, ':') >= 0 {
		return "[" + e.Host + "]:" + e.Port
	}
	return e.Host + ":" + e.Port
}

// Loopback reports whether the endpoint is this machine by its name
// alone: a loopback address, or localhost (RFC 6761). It looks nothing
// up.
func (e Endpoint) Loopback() bool {
	h := strings.ToLower(strings.TrimSuffix(e.Host, "."))
	return isLoopback(e.Host) || h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// IsAddress reports whether the host is written as an IP address, not
// a name: an IPv6 address (the only hosts with a colon), or digits and
// dots (no top-level domain is all digits).
func (e Endpoint) IsAddress() bool {
	if index(e.Host, ':') >= 0 {
		return true
	}
	for i := 0; i < len(e.Host); i++ {
		if c := e.Host[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return e.Host != ""
}

// relayURLHelp is how a relay url is written.
const relayURLHelp = "write smtps://HOST[:PORT], smtp+starttls://HOST[:PORT], smtp://HOST[:PORT] or exec:/path/to/program ARGS"

// ParseRelayURL parses the url of [relay]: smtps://host[:465],
// smtp+starttls://host[:587] (submission:// is the same), smtp://host[:25]
// or exec:/path args. Its error does not quote a url that holds a
// password.
func ParseRelayURL(u string) (Endpoint, error) {
	u = strings.TrimSpace(u)
	if rest, ok := strings.CutPrefix(u, "exec:"); ok {
		argv := strings.Fields(rest)
		if len(argv) == 0 || !strings.HasPrefix(argv[0], "/") {
			return Endpoint{}, fmt.Errorf("exec: needs an absolute program path, as exec:/usr/sbin/sendmail -i")
		}
		return Endpoint{Kind: RelayExec, Argv: argv}, nil
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return Endpoint{}, fmt.Errorf("%q is not a relay URL: %s", u, relayURLHelp)
	}
	var e Endpoint
	switch strings.ToLower(scheme) {
	case "smtps":
		e.Kind, e.Port = RelayTLS, "465"
	case "smtp+starttls", "submission":
		e.Kind, e.Port = RelayStartTLS, "587"
	case "smtp":
		e.Kind, e.Port = RelayPlain, "25"
	default:
		return Endpoint{}, fmt.Errorf("unknown scheme %q (use smtps, smtp+starttls, smtp or exec)", scheme)
	}
	if index(rest, '@') >= 0 {
		return Endpoint{}, fmt.Errorf("must not hold a user name or password (use username and password or password_command)")
	}
	rest = strings.TrimSuffix(rest, "/")
	if strings.ContainsAny(rest, "/?#") {
		return Endpoint{}, fmt.Errorf("%q: only scheme://host:port is allowed", u)
	}
	host, port := rest, ""
	if i := lastIndex(rest, ':'); i >= 0 && (rest[0] != '[' || rest[i-1] == ']') {
		h, p, err := splitHostPort(rest)
		if err != nil {
			return Endpoint{}, fmt.Errorf("%q: bad host or port", u)
		}
		host, port = h, p
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || port[0] == '+' {
			return Endpoint{}, fmt.Errorf("%q: bad port", u)
		}
		e.Port = port
	} else if strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]") {
		host = rest[1 : len(rest)-1]
	}
	if host == "" {
		return Endpoint{}, fmt.Errorf("%q has no host", u)
	}
	ok = hostName(host)
	if strings.HasPrefix(rest, "[") {
		ok = ipv6Chars(host)
	}
	if !ok {
		return Endpoint{}, fmt.Errorf("%q: %q is not a host name or address (an IPv6 address goes in brackets)", u, host)
	}
	e.Host = host
	return e, nil
}

// hostName reports whether s is made of the letters, digits, hyphens
// and dots of a host name (or an IPv4 address).
func hostName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return s != "" && s[0] != '.' && s[0] != '-'
}

// ipv6Chars reports whether s looks like an IPv6 address: hex digits,
// colons (two at least) and the dots of an IPv4 tail. Package relay
// parses it fully.
func ipv6Chars(s string) bool {
	colons := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
			colons++
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F', c == '.':
		default:
			return false
		}
	}
	return colons >= 2
}

// Check returns every error of the [relay] table that shows without the
// network or another file, each with its key ("relay.url"), in the
// order of the keys.
func (r *Relay) Check() []*Error {
	var errs []*Error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: "relay." + key, Msg: fmt.Sprintf(format, args...)})
	}
	if u := strings.TrimSpace(r.URL); u != "" {
		e, err := ParseRelayURL(u)
		switch {
		case err != nil:
			bad("url", "%v", err)
		case e.Kind == RelayExec:
			if r.Username != "" {
				bad("username", "not used with an exec: relay")
			}
		default:
			if e.Kind == RelayPlain && !r.Insecure && e.IsAddress() && !e.Loopback() {
				bad("url", "plain smtp:// to %s is not encrypted; use smtps:// or smtp+starttls://, or set insecure = true", e.Host)
			}
			if r.Username != "" && e.Kind == RelayPlain && !e.Loopback() {
				// To a loopback address (a tunnel, a gateway on
				// this machine) the password crosses no network.
				bad("username", "authentication over plain smtp:// to %s would send the password in clear; use smtps:// or smtp+starttls:// (plain smtp:// with a login is for a loopback address)", e.Host)
			}
			if r.Username != "" && r.Password == "" && r.PasswordCommand == "" {
				bad("password_command", "username is set but neither password nor password_command")
			}
		}
	}
	if r.Password != "" && r.PasswordCommand != "" {
		bad("password_command", "set either password or password_command, not both")
	}
	if f := r.From; f != "" {
		at := lastIndex(f, '@')
		lt, gt := lastIndex(f, '<'), lastIndex(f, '>')
		switch {
		case lt >= 0 && gt > lt+1 && gt == len(f)-1 && !strings.ContainsAny(f[lt+1:gt], " \t<>,;"):
			// "Me <me@example.org>": a header's From, with a name.
			bad("from", "%q: from is an envelope address (MAIL FROM), with no display name; write from = %q", f, f[lt+1:gt])
		case at <= 0 || at == len(f)-1 || strings.ContainsAny(f, " \t<>,;"):
			bad("from", "%q is not a full address (user@domain): from is an envelope address, with no display name, as from = \"me@example.org\"", f)
		}
	}
	for _, t := range []struct {
		key string
		d   Duration
	}{{"connect_timeout", r.ConnectTimeout}, {"command_timeout", r.CommandTimeout}, {"data_timeout", r.DataTimeout}} {
		if t.d.Duration <= 0 {
			bad(t.key, "must be positive")
		}
	}
	return errs
}
