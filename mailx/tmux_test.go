package mailx

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// term is the binary running in a tmux pane, driven as a person would:
// keys in, screen out.
type term struct {
	t      *testing.T
	socket string
}

// startTerm runs "homepost mail ARGS" in a detached 200x50 tmux session
// on a private socket, with the home's environment.
func startTerm(t *testing.T, h *home, args ...string) *term {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("SKIP: tmux is not installed: cannot drive mail in a terminal")
	}
	tm := &term{t: t, socket: filepath.Join(t.TempDir(), "tmux.sock")}
	var sh strings.Builder
	// The shell survives ^C (as an interactive one would) so that
	// the exit status can be shown; mail gets the default disposition.
	sh.WriteString("trap : INT; env -i")
	for _, kv := range h.env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "HOMEPOST_CONFIG", "PATH", "LANG", "LC_ALL":
			sh.WriteString(" " + shellQuote(kv))
		}
	}
	sh.WriteString(" TERM=xterm PAGER=cat " + shellQuote(binary(t)) + " mail -n")
	for _, a := range args {
		sh.WriteString(" " + shellQuote(a))
	}
	sh.WriteString(`; echo "[exit $?]"; sleep 600`)
	cmd := exec.Command("tmux", "-S", tm.socket, "-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "50", "-c", h.dir, "sh", "-c", sh.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("tmux", "-S", tm.socket, "kill-server").Run()
		// Let the killed processes go before the home is removed.
		time.Sleep(300 * time.Millisecond)
	})
	return tm
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// screen returns the pane with its scroll-back.
func (tm *term) screen() string {
	out, err := exec.Command("tmux", "-S", tm.socket, "capture-pane", "-p", "-J", "-S", "-2000").Output()
	if err != nil {
		tm.t.Fatalf("capture-pane: %v", err)
	}
	return string(out)
}

// waitFor waits until the screen holds text n times (after what was
// there before), and returns the screen.
func (tm *term) waitFor(text string, n int) string {
	tm.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := tm.screen()
		if strings.Count(s, text) >= n {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("timed out waiting for %q (x%d); screen:\n%s", text, n, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// typeLine types a line and Enter.
func (tm *term) typeLine(line string) {
	tm.t.Helper()
	if line != "" {
		if out, err := exec.Command("tmux", "-S", tm.socket, "send-keys", "-l", line).CombinedOutput(); err != nil {
			tm.t.Fatalf("send-keys: %v: %s", err, out)
		}
	}
	if out, err := exec.Command("tmux", "-S", tm.socket, "send-keys", "Enter").CombinedOutput(); err != nil {
		tm.t.Fatalf("send-keys: %v: %s", err, out)
	}
}

// command types a command at the "& " prompt and waits for the next one.
func (tm *term) command(line string) string {
	tm.t.Helper()
	before := strings.Count(tm.screen(), "& ")
	tm.typeLine(line)
	return tm.waitFor("& ", before+1)
}

func (tm *term) key(k string) {
	exec.Command("tmux", "-S", tm.socket, "send-keys", k).Run()
}
