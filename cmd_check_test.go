package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseCrontab(t *testing.T) {
	ct := parseCrontab(`# m h dom mon dow command
SHELL=/bin/sh
MAILTO=""
17 3 * * * /home/me/.local/bin/homepost cron -- backup --quiet
*/5 * * * *	homepost cron check-disk
@daily  tidy-downloads
PATH = /usr/bin:/bin
0 0 1 1 *
`)
	if ct.jobs != 3 || ct.wrapped != 2 || !ct.mailtoOff {
		t.Errorf("parseCrontab = %+v, want 3 jobs, 2 wrapped, MAILTO off", ct)
	}
	if ct := parseCrontab("MAILTO=me@example.org\n@reboot x\n"); ct.mailtoOff || ct.jobs != 1 || ct.wrapped != 0 {
		t.Errorf("parseCrontab = %+v", ct)
	}
}

func FuzzParseCrontab(f *testing.F) {
	f.Add("MAILTO=\"\"\n* * * * * homepost cron -- true\n@hourly x\n")
	f.Add("=\n@\n \t\n#")
	f.Fuzz(func(t *testing.T, s string) {
		ct := parseCrontab(s)
		if ct.wrapped > ct.jobs || ct.jobs < 0 {
			t.Errorf("parseCrontab(%q) = %+v", s, ct)
		}
	})
}

func TestParseLinger(t *testing.T) {
	for in, want := range map[string]string{"Linger=yes\n": "yes", "Linger=no": "no", "": "", "Failed to get user: No such user\n": ""} {
		if got := parseLinger([]byte(in)); got != want {
			t.Errorf("parseLinger(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWritableDir(t *testing.T) {
	dir := t.TempDir()
	if at, err := writableDir(filepath.Join(dir, "a", "b")); err != nil || at != dir {
		t.Errorf("writableDir(missing) = %q, %v; want %q", at, err, dir)
	}
	f := filepath.Join(dir, "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := writableDir(filepath.Join(f, "sub")); err == nil {
		t.Error("a directory under a regular file is writable?")
	}
}
