package submit

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"homepost/outbox"
)

// The outboxes an agent followed a move from are listed in state_dir,
// the latest first, without the configured one, and Stranded looks in
// them.
func TestFormerOutboxes(t *testing.T) {
	cfg := testConfig(t)
	cfg.StateDir = filepath.Join(cfg.Home, "state")
	q1, q2 := filepath.Join(cfg.Home, "q1"), filepath.Join(cfg.Home, "q2")
	for _, d := range []string{q1, q2, cfg.Outbox} {
		if err := RecordFormer(cfg, d, cfg.StateDir); err != nil {
			t.Fatal(err)
		}
	}
	if got := FormerOutboxes(cfg); !slices.Equal(got, []string{cfg.Outbox, q2, q1}) {
		t.Fatalf("FormerOutboxes = %v", got)
	}
	if err := RecordFormer(cfg, q1, ""); err != nil {
		t.Fatal(err)
	}
	if got := FormerOutboxes(cfg); !slices.Equal(got, []string{q1, q2}) {
		t.Fatalf("FormerOutboxes = %v, want the configured outbox dropped", got)
	}
	if got := Formers(cfg); !slices.Equal(got, []Former{{q1, ""}, {q2, cfg.StateDir}}) {
		t.Fatalf("Formers = %v, want the state_dir recorded with q2", got)
	}
	// A list written by an older homepost: outboxes alone.
	if err := os.WriteFile(formerFile(cfg), []byte(q2+"\n"+q1+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := Formers(cfg); !slices.Equal(got, []Former{{q2, ""}, {q1, ""}}) {
		t.Fatalf("Formers of an older list = %v", got)
	}
	if err := RecordFormer(cfg, "q\n3", ""); err == nil {
		t.Fatal("a path with a new line was recorded")
	}
	if dir, n := Stranded(cfg); n != 0 {
		t.Fatalf("Stranded = %s %d with nothing queued", dir, n)
	}
	if err := outbox.Dir(q2).Init(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(q2, "new", "1.A.host"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if dir, n := Stranded(cfg); dir != q2 || n != 1 {
		t.Fatalf("Stranded = %s %d, want %s 1", dir, n, q2)
	}
}

// The configured outbox named by another path (a symbolic link to it,
// left in the list of outboxes followed from) is the live queue, not
// mail stranded in an outbox no longer configured.
func TestStrandedSameDir(t *testing.T) {
	cfg := testConfig(t)
	cfg.StateDir = filepath.Join(cfg.Home, "state")
	if err := outbox.Dir(cfg.Outbox).Init(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Outbox, "new", "1.A.host"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(cfg.Home, "qlink")
	if err := os.Symlink(cfg.Outbox, link); err != nil {
		t.Fatal(err)
	}
	if err := RecordFormer(cfg, link, cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	if dir, n := Stranded(cfg); n != 0 {
		t.Fatalf("Stranded = %s %d: the configured outbox by another name", dir, n)
	}
	if !SameDir(link, cfg.Outbox) || SameDir(link, cfg.StateDir) {
		t.Fatal("SameDir does not tell the link's directory")
	}
}
