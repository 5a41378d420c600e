package doctor

import (
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
