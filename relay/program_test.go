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

// An exec: relay program that another user could replace (the file
// world-writable, or in a directory others may write without the sticky
// bit) is a configuration error of relay.url, as a config.toml in such
// a place is: it runs as the user for every remote message. The error
// names the path and the command that mends it.
func TestExecRelayUnsafeProgramRefused(t *testing.T) {
	dir := t.TempDir()
	script := []byte("#!/bin/sh\ncat >/dev/null\n")
	ww := filepath.Join(dir, "ww.sh")
	if err := os.WriteFile(ww, script, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ww, 0o777); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	inOpen := filepath.Join(open, "relay.sh")
	if err := os.WriteFile(inOpen, script, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	sticky := filepath.Join(dir, "sticky")
	if err := os.Mkdir(sticky, 0o755); err != nil {
		t.Fatal(err)
	}
	inSticky := filepath.Join(sticky, "relay.sh")
	if err := os.WriteFile(inSticky, script, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.sh")
	if err := os.Symlink(ww, link); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.sh")
	if err := os.WriteFile(good, script, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prog, bad, fix string
	}{
		{ww, ww, "chmod go-w " + ww},
		{link, ww, "chmod go-w " + ww},
		{inOpen, open, "chmod go-w " + open},
		{inSticky, "", ""},
		{good, "", ""},
	} {
		_, err := New(testConfig(t, "exec:"+tc.prog+" -i"), nil)
		var ce *config.Error
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%s: %v", tc.prog, err)
		case tc.bad == "":
		case !errors.As(err, &ce) || ce.Key != "relay.url":
			t.Errorf("%s: want a relay.url error, got %v", tc.prog, err)
		case !strings.Contains(ce.Msg, tc.bad+" is world-writable") || !strings.Contains(ce.Msg, tc.fix):
			t.Errorf("%s: %s", tc.prog, ce.Msg)
		}
	}
}
