package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A syntax error in the line that holds the relay password never shows
// the password: the agent logs reload errors and homepost check prints
// them.
func TestSyntaxErrorHidesPassword(t *testing.T) {
	id := testID(t)
	for _, line := range []string{
		`password = hunter2Secret`,
		`password = hunter Secret`,
		`password = 'hunterSecret'x`,
		`password = "hunterSecret" trailing`,
		`password = """hunterSecret`,
		`password = 'hunter's'`,
		`"password" = hunterSecret`,
	} {
		p := filepath.Join(t.TempDir(), "config.toml")
		os.WriteFile(p, []byte("[relay]\nurl = \"smtps://h:465\"\nusername = \"u\"\n"+line+"\n"), 0o600)
		_, err := LoadFile(p, id)
		if err == nil {
			t.Errorf("%s: loaded", line)
			continue
		}
		if strings.Contains(err.Error(), "hunter") || strings.Contains(err.Error(), "Secret") {
			t.Errorf("%s: the error shows the password: %v", line, err)
		}
		if !strings.Contains(err.Error(), p+":4") {
			t.Errorf("%s: the error does not name file:line: %v", line, err)
		}
	}
	// An inline table too.
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte("relay = { url = \"smtps://h:465\", password = hunterSecret }\n"), 0o600)
	if _, err := LoadFile(p, id); err == nil || strings.Contains(err.Error(), "hunter") {
		t.Errorf("inline table: %v", err)
	}
}
