package relay

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/courier"
	"homepost/outbox"
)

// fakeSendmail writes a program that records its arguments and input
// and exits with the code in DIR/code.
func fakeSendmail(t *testing.T) (dir, prog string) {
	dir = t.TempDir()
	prog = filepath.Join(dir, "sendmail")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" >" + dir + "/args\ncat >" + dir + "/msg\necho 'diagnostic from the program' >&2\nexit $(cat " + dir + "/code)\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, prog
}

func TestExecRelay(t *testing.T) {
	dir, prog := fakeSendmail(t)
	cfg := testConfig(t, "exec:"+prog+" -i -oi")
	cfg.Relay.From = "alice@example.com"
	c := newClient(t, cfg)
	for _, tc := range []struct {
		code string
		want outbox.Status
		dsn  string
	}{
		{"0", outbox.Sent, "2.0.0"},
		{"75", outbox.Deferred, "4.3.0"},
		{"67", outbox.Bounced, "5.1.1"},
		{"1", outbox.Deferred, "4.3.0"},
	} {
		os.WriteFile(filepath.Join(dir, "code"), []byte(tc.code), 0o644)
		res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", sample, "bob@example.org", "-oQ/tmp/evil", "carol@example.org")})
		r := res[0]
		if r[0].Status != tc.want || r[2].Status != tc.want || r[0].DSN != tc.dsn {
			t.Errorf("exit %s: %s / %s", tc.code, r[0].Text(), r[2].Text())
		}
		if r[1].Status != outbox.Bounced {
			t.Errorf("option-like recipient: %s", r[1].Text())
		}
		if tc.code != "0" && !strings.Contains(r[0].Reason, "diagnostic from the program") {
			t.Errorf("reason lacks the program's output: %s", r[0].Reason)
		}
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if got := strings.Fields(string(args)); strings.Join(got, " ") != "-i -oi -f alice@example.com bob@example.org carol@example.org" {
		t.Errorf("arguments %q", got)
	}
	msg, _ := os.ReadFile(filepath.Join(dir, "msg"))
	want := strings.Replace(sample, "From: Alice <alice>", "From: Alice <alice@example.com>", 1)
	if string(msg) != want {
		t.Errorf("program got %q, want %q", msg, want)
	}
}

func TestExecNullSenderAndTimeout(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "slow")
	os.WriteFile(prog, []byte("#!/bin/sh\necho \"$@\" >"+dir+"/args\nexec sleep 30\n"), 0o755)
	cfg := testConfig(t, "exec:"+prog)
	cfg.Relay.DataTimeout.Duration = 300 * time.Millisecond
	start := time.Now()
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "bob@example.org")})
	status(t, res[0], outbox.Deferred)
	if time.Since(start) > 10*time.Second {
		t.Errorf("timeout not enforced: %v", time.Since(start))
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if strings.TrimSpace(string(args)) != "-f <> bob@example.org" {
		t.Errorf("args %q", args)
	}
}

func TestExecMissingProgram(t *testing.T) {
	cfg := testConfig(t, "exec:/nonexistent/sendmail -i")
	res := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "bob@example.org")})
	status(t, res[0], outbox.Deferred)
}

// Every sysexits(3) status is read as Postfix's pipe(8) reads it: 64-69,
// 76 and 77 bounce, the rest defer, each with its enhanced status code.
func TestExecExitTable(t *testing.T) {
	dir, prog := fakeSendmail(t)
	c := newClient(t, testConfig(t, "exec:"+prog))
	for _, tc := range []struct {
		code string
		want outbox.Status
		dsn  string
	}{
		{"64", outbox.Bounced, "5.3.0"}, {"65", outbox.Bounced, "5.6.0"},
		{"66", outbox.Bounced, "5.3.0"}, {"67", outbox.Bounced, "5.1.1"},
		{"68", outbox.Bounced, "5.1.2"}, {"69", outbox.Bounced, "5.3.0"},
		{"70", outbox.Deferred, "4.3.0"}, {"71", outbox.Deferred, "4.3.0"},
		{"72", outbox.Deferred, "4.3.0"}, {"73", outbox.Deferred, "4.2.0"},
		{"74", outbox.Deferred, "4.3.0"}, {"75", outbox.Deferred, "4.3.0"},
		{"76", outbox.Bounced, "5.5.0"}, {"77", outbox.Bounced, "5.7.0"},
		{"78", outbox.Deferred, "4.3.5"}, {"79", outbox.Deferred, "4.3.0"},
	} {
		os.WriteFile(filepath.Join(dir, "code"), []byte(tc.code), 0o644)
		r := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "bob@example.org")})[0][0]
		if r.Status != tc.want || r.DSN != tc.dsn || !strings.Contains(r.Reason, "exit status "+tc.code) {
			t.Errorf("exit %s: %s, want %v %s", tc.code, r.Text(), tc.want, tc.dsn)
		}
	}
}

// A program that prints without end on both streams is neither blocked
// nor kept whole: its first line becomes the reason.
func TestExecChattyProgram(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "chatty")
	script := "#!/bin/sh\ncat >/dev/null\necho 'first words'\nhead -c 4000000 /dev/zero | tr '\\0' x\nhead -c 4000000 /dev/zero | tr '\\0' y >&2\nexit 65\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "exec:"+prog)
	cfg.Relay.DataTimeout.Duration = 20 * time.Second
	r := newClient(t, cfg).Send(context.Background(), []*courier.Outgoing{outgoing("A1", "", sample, "bob@example.org")})[0][0]
	if r.Status != outbox.Bounced || r.DSN != "5.6.0" {
		t.Fatalf("got %s", r.Text())
	}
	if !strings.HasSuffix(r.Reason, ": first words") || len(r.Reason) > 400 {
		t.Errorf("reason %q", r.Reason)
	}
}
