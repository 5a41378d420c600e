package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"homepost/config"
	"homepost/courier"
	"homepost/forwarder"
)

// A Maildir that ~/.forward names and that took its copy becomes the
// store (config.toml's store names it) while another copy of the
// message waits: the retry resolves the line as the store (one copy,
// not two), and the copy the Maildir took must be known as the store's.
// Known by target, \user and /path/ differed, and the store got the
// message a second time.
func TestReexpandStoreNowANamedMaildir(t *testing.T) {
	ta := newTestAgent(t, "")
	inbox := filepath.Join(ta.home, "inbox")
	if err := os.WriteFile(filepath.Join(ta.home, ".forward"), []byte(inbox+"/\nbob@remote.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	accept := false
	relay := ta.smarthost(func(c *courier.Copy) courier.Result {
		if !accept {
			return courier.Temp("4.2.0", "try later")
		}
		return courier.OK("250 2.0.0 queued")
	})
	ta.queue("carol@example.com", ta.clock, "alice@box.example.org")
	ta.run()
	count := func() int {
		names, _ := os.ReadDir(filepath.Join(inbox, "new"))
		return len(names)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d copies in %s after the first attempt, want 1", n, inbox)
	}
	// config.toml: the store is that Maildir now.
	conf := filepath.Join(ta.home, "config.toml")
	b, _ := os.ReadFile(conf)
	if err := os.WriteFile(conf, append(b, "store = \"~/inbox/\"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(conf, config.NewIdentity("alice", ta.home, "Alice", os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	tb := &testAgent{t: t, home: ta.home}
	tb.Agent = newAgent(cfg, slog.New(slog.NewTextHandler(&tb.logs, nil)))
	tb.now = func() time.Time { return ta.clock.Add(2 * time.Hour) }
	tb.couriers[forwarder.Remote] = relay
	accept = true
	tb.run()
	if n := count(); n != 1 {
		t.Errorf("%d copies in %s, want 1; log:\n%s", n, inbox, tb.logs.String())
	}
	tb.empty()
}
