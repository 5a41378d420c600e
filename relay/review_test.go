package relay

import (
	"errors"
	"testing"

	"homepost/config"
)

// Plain smtp:// to a host name is as unencrypted as to a remote
// address: only loopback (an address, or localhost) goes without TLS
// unless insecure = true.
func TestPlainToHostNameNeedsInsecure(t *testing.T) {
	for _, u := range []string{"smtp://smtp.example.com:25", "smtp://mail.example.org", "smtp://localhost.example.com:25"} {
		cfg := testConfig(t, u)
		_, err := New(cfg, nil)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != "relay.url" {
			t.Errorf("%s: %v, want a relay.url error", u, err)
		}
		cfg.Relay.Insecure = true
		if _, err := New(cfg, nil); err != nil {
			t.Errorf("%s with insecure = true: %v", u, err)
		}
	}
	for _, u := range []string{"smtp://localhost:25", "smtp://LocalHost", "smtp://127.0.0.1:2525", "smtp://[::1]:25", "smtp://mta.localhost:25"} {
		if _, err := New(testConfig(t, u), nil); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}
