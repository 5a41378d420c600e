package doctor_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// check run with HOMEPOST_CONFIG naming another file than the one the
// running agent read must say so, and name the agent's file, rather than
// claim that the agent keeps an older version of the file check read.
func TestCheckAgentReadsAnotherFile(t *testing.T) {
	e := testenv.New(t, "")
	e.Vars = append(e.Vars, "PATH=/usr/bin:/bin")
	e.StartAgent()
	agentFile := e.Path(".config", "homepost", "config.toml")
	other := e.Path("other.toml")
	check := func(file string) string {
		t.Helper()
		c := e.Cmd(nil, "homepost", "check")
		c.Env = append(c.Env, "HOMEPOST_CONFIG="+file)
		out, _ := c.CombinedOutput()
		return string(out)
	}
	for _, c := range []struct{ name, body string }{
		{"broken", "no_such_key = 1\n"},
		{"missing", ""},
	} {
		os.Remove(other)
		if c.body != "" {
			os.WriteFile(other, []byte(c.body), 0o600)
		}
		out := check(other)
		if strings.Contains(out, "keeps the configuration it read before") {
			t.Errorf("%s file: check blames the agent, which read %s:\n%s", c.name, agentFile, out)
		}
		if !strings.Contains(out, "another configuration file") || !strings.Contains(out, agentFile) {
			t.Errorf("%s file: check does not say that the agent reads %s:\n%s", c.name, agentFile, out)
		}
	}

	// A good file of its own: the agent that runs is not configured as
	// check reads it.
	os.WriteFile(other, []byte("system_aliases = \"\"\n"), 0o600)
	if out := check(other); !strings.Contains(out, "warn agent: running") || !strings.Contains(out, agentFile) {
		t.Errorf("another good file: check does not say that the agent reads %s:\n%s", agentFile, out)
	}

	// The agent's own file, by another name: that is the file it read.
	link := e.Path("link.toml")
	os.Symlink(agentFile, link)
	if out := check(link); !strings.Contains(out, "ok   agent: running") || strings.Contains(out, "another configuration file") {
		t.Errorf("the agent's own file through a link:\n%s", out)
	}
	b, _ := os.ReadFile(agentFile)
	os.WriteFile(agentFile, append(b, "no_such_key = 1\n"...), 0o600)
	if out := check(filepath.Clean(link)); !strings.Contains(out, "keeps the configuration it read before") {
		t.Errorf("the agent's own file, broken since:\n%s", out)
	}
}
