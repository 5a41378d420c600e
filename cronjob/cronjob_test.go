package cronjob

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/config"
	"homepost/outbox"
)

func testConfig(t *testing.T) *config.Config {
	home := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", home, "Alice", 1000))
	cfg.Hostname = "host.example"
	cfg.Outbox = filepath.Join(home, "outbox")
	cfg.DeliverWithoutAgent = false
	return cfg
}

func queued(t *testing.T, cfg *config.Config) []string {
	names, err := outbox.Dir(cfg.Outbox).Names("new")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		raw, err := os.ReadFile(filepath.Join(cfg.Outbox, "new", n))
		if err != nil {
			t.Fatal(err)
		}
		env, body, err := outbox.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, env.Rcpts[0].Addr+"\n"+string(body))
	}
	return out
}

// A silent success mails nothing; output or a failure mails a report to
// $MAILTO, or else to the user.
func TestRun(t *testing.T) {
	cfg := testConfig(t)
	t.Setenv("MAILTO", "")
	r, err := Run(cfg, nil, []string{"true"})
	if err != nil || r.Status != 0 || r.Unsent != nil {
		t.Fatalf("true: %+v, %v", r, err)
	}
	r.Close()
	if q := queued(t, cfg); len(q) != 0 {
		t.Fatalf("a silent success queued %d messages", len(q))
	}

	r, err = Run(cfg, nil, []string{"sh", "-c", "echo it broke; exit 2"})
	if err != nil || r.Status != 2 || r.Unsent != nil {
		t.Fatalf("failing job: %+v, %v", r, err)
	}
	r.Close()
	q := queued(t, cfg)
	if len(q) != 1 || !strings.HasPrefix(q[0], "alice\n") || !strings.Contains(q[0], "exit 2 after") || !strings.HasSuffix(q[0], "\nit broke\n") {
		t.Fatalf("report: %q", q)
	}

	t.Setenv("MAILTO", " ops@example.org ")
	if got := Recipients(cfg); len(got) != 1 || got[0] != "ops@example.org" {
		t.Errorf("Recipients with MAILTO = %q", got)
	}
}

// A report that cannot be queued leaves the output to the caller.
func TestRunUnsent(t *testing.T) {
	cfg := testConfig(t)
	cfg.Outbox = "/proc/no-outbox-here"
	r, err := Run(cfg, nil, []string{"sh", "-c", "echo precious"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Unsent == nil {
		t.Fatal("report queued into an outbox that cannot exist")
	}
	var b strings.Builder
	if err := r.WriteOutput(&b); err != nil || b.String() != "precious\n" {
		t.Errorf("WriteOutput = %q, %v", b.String(), err)
	}
}

// A MAILTO with an address that cannot be read (a typo among several)
// does not keep the report from being queued: cron itself passes -oem,
// and a report not queued was lost where cron has no mailer of its own.
// The good addresses get it, and the user gets it with the error named.
func TestRunBadMailto(t *testing.T) {
	for _, mailto := range []string{"ops@example.org, bad@@x", "bad@@x"} {
		cfg := testConfig(t)
		t.Setenv("MAILTO", mailto)
		r, err := Run(cfg, nil, []string{"sh", "-c", "echo job output"})
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		if r.Unsent != nil {
			t.Errorf("MAILTO=%q: report not queued: %v", mailto, r.Unsent)
			continue
		}
		if len(r.Returned) != 1 || !strings.Contains(r.Returned[0], "bad@@x") {
			t.Errorf("MAILTO=%q: Returned = %q", mailto, r.Returned)
		}
		names, _ := outbox.Dir(cfg.Outbox).Names("new")
		if len(names) != 1 {
			t.Fatalf("MAILTO=%q: %d queued", mailto, len(names))
		}
		raw, _ := os.ReadFile(filepath.Join(cfg.Outbox, "new", names[0]))
		env, body, err := outbox.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		var rcpts []string
		for _, rc := range env.Rcpts {
			rcpts = append(rcpts, rc.Addr)
		}
		want := "alice"
		if strings.Contains(mailto, "ops@") {
			want = "ops@example.org alice"
		}
		if strings.Join(rcpts, " ") != want || !strings.Contains(string(body), "X-Homepost-Error: ") || !strings.HasSuffix(string(body), "\njob output\n") {
			t.Errorf("MAILTO=%q: recipients %v, message:\n%s", mailto, rcpts, body)
		}
	}
}
