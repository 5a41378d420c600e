package doctor

import (
	"strings"

	"homepost/config"
	"homepost/settings"
)

// warnInClear warns, with or without --relay, when the relay url is
// plain SMTP to a host that is not this machine by its name: mail (and
// any password) would cross the network unencrypted. The agent's own
// check looks at the addresses the name resolves to; this one looks at
// nothing on the network, so check stays fast.
func warnInClear(c *checker, cfg *config.Config) bool {
	ep, err := settings.ParseRelayURL(cfg.Relay.URL)
	if err != nil || ep.Kind != settings.RelayPlain || ep.Loopback() {
		return false
	}
	what := "mail"
	if cfg.Relay.Username != "" {
		what = "your password and mail"
	}
	if cfg.Relay.Insecure {
		c.warn("relay", "%s is plain SMTP to %s, another host: %s cross the network in clear (insecure = true); use smtps:// or smtp+starttls://", cfg.Relay.URL, ep.Host, what)
	} else {
		c.warn("relay", "%s is plain SMTP to %s, another host: %s would cross the network in clear, so delivery refuses it unless %s resolves to a loopback address; use smtps:// or smtp+starttls://", cfg.Relay.URL, ep.Host, what, ep.Host)
	}
	return true
}

// warnNoFrom warns when remote mail would leave with this host's name
// as its sender's domain and that name is no mail domain (no dot, as
// "vm" or "raspberrypi"): every provider refuses such a sender ("553
// sender address rejected"), and the fix is the one [relay] key that
// every provider needs. An exec: relay is left alone: its program may
// set the sender itself.
func warnNoFrom(c *checker, cfg *config.Config) {
	if cfg.Relay.From != "" || strings.HasPrefix(cfg.Relay.URL, "exec:") {
		return
	}
	host := strings.TrimSuffix(cfg.Hostname, ".")
	if strings.Contains(host, ".") {
		return
	}
	c.warn("relay", "no from: remote mail leaves as %s@%s: set from = \"you@your-provider\" in [relay] (%s, this host's name, is no mail domain: providers refuse such a sender)", cfg.User, host, host)
}
