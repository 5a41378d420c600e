package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"homepost/config"
)

// The smarthost's worker records what the smarthost took between two
// transactions (journalSent) and logs it, naming each copy's Via, which
// for a copy an alias sent on is the alias's bare name ("team"): it
// must not read a.cfg (the host name that qualifies it) while a reload
// replaces it in the loop.
func TestWorkerLogDoesNotReadConfig(t *testing.T) {
	ta := newTestAgent(t, fmt.Sprintf("aliases = \"~/aliases\"\n[relay]\nurl = \"smtp://%s\"\n", sinkRelay(t)))
	if err := os.WriteFile(filepath.Join(ta.home, "aliases"), []byte("team: bob@remote.example, carol@remote.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ta.fwd.Load()
	ta.async = true
	// Two messages in one batch: two transactions, the first recorded
	// by the worker before the second begins.
	ta.queue("alice@box.example.org", ta.clock, "team")
	ta.queue("alice@box.example.org", ta.clock, "team")
	ta.run()
	cfg, err := config.LoadFile(ta.cfg.File, config.NewIdentity("alice", ta.home, "Alice", ta.cfg.UID))
	if err != nil {
		t.Fatal(err)
	}
	ta.configure(cfg) // as a reload does, in the loop
	for ta.remoteOut > 0 {
		ta.remoteFinished(ta.answer())
	}
}
