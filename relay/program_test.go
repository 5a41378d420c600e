package relay

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/config"
)

// An exec: relay whose program is a homepost build (found by the module
// information the Go toolchain writes in it, behind a symbolic link as
// install-system makes /usr/sbin/sendmail, or this very program) is a
// configuration error of relay.url: it would hand the mail back to the
// queue for ever. Another program, or one that does not exist (yet),
// is not.
func TestExecRelayToHomepostRefused(t *testing.T) {
	dir := t.TempDir()
	ours := filepath.Join(dir, "sendmail.homepost")
	data := append([]byte("\x7fELF junk "), "path\thomepost/cmd/sendmail\nmod\thomepost\t(devel)\n"...)
	if err := os.WriteFile(ours, data, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "sendmail")
	if err := os.Symlink(ours, link); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "msmtp")
	if err := os.WriteFile(other, []byte("#!/bin/sh\ncat >/dev/null\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prog  string
		loops bool
	}{
		{link, true}, {ours, true}, {self, true},
		{other, false}, {filepath.Join(dir, "missing"), false},
	} {
		_, err := New(testConfig(t, "exec:"+tc.prog+" -i"), nil)
		var ce *config.Error
		switch {
		case tc.loops && (!errors.As(err, &ce) || ce.Key != "relay.url" || !strings.Contains(ce.Msg, "homepost's own program")):
			t.Errorf("%s: %v", tc.prog, err)
		case !tc.loops && err != nil:
			t.Errorf("%s: %v", tc.prog, err)
		}
	}
}
