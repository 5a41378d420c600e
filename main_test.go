package main

import (
	"slices"
	"strings"
	"testing"

	"homepost/sysexits"
)

func TestParseSendmailArgs(t *testing.T) {
	a, err := parseSendmailArgs(strings.Fields("-ti -fme@x -F Full -oem -odb -N success,delay -R hdrs -V id1 -B8BITMIME -C /x -h 5 -L tag -X /log bob -- -carol"))
	if err != nil {
		t.Fatal(err)
	}
	if !a.opts.Extract || !a.opts.IgnoreDots || a.opts.Sender != "me@x" || a.opts.FullName != "Full" ||
		a.opts.Opts["notify"] != "success,delay" || a.opts.Opts["ret"] != "hdrs" || a.opts.Opts["envid"] != "id1" ||
		!slices.Equal(a.opts.Recipients, []string{"bob", "-carol"}) || a.mode != "m" {
		t.Fatalf("%+v", a)
	}
	for in, mode := range map[string]string{"-bp": "p", "-bi": "i", "-q": "q", "-q30m": "q", "-bs": "s", "-bv": "v", "-b m": "m"} {
		a, err := parseSendmailArgs(strings.Fields(in))
		if err != nil || a.mode != mode {
			t.Errorf("%s: %v %v", in, a, err)
		}
	}
	for _, bad := range []string{"-x", "-f", "-bd", "-bz", "-tZ"} {
		if _, err := parseSendmailArgs(strings.Fields(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if a, _ := parseSendmailArgs([]string{"-oi", "-r", "<>"}); !a.opts.IgnoreDots || a.opts.Sender != "<>" {
		t.Errorf("-oi -r <>: %+v", a)
	}
}

func TestDispatch(t *testing.T) {
	if c := lookup("sendmail", true); c == nil || c.name != "sendmail" {
		t.Error("argv[0] sendmail")
	}
	if c := lookup("mailq", true); c == nil || c.name != "mailq" {
		t.Error("argv[0] mailq")
	}
	if code := run([]string{"homepost", "no-such-command"}); code != sysexits.Usage {
		t.Errorf("unknown command: exit %d", code)
	}
}

// FuzzSendmailArgs: no command line makes the parser panic.
func FuzzSendmailArgs(f *testing.F) {
	f.Add("-ti\x00-f\x00me@x\x00bob")
	f.Add("-oi\x00-bp")
	f.Add("-f")
	f.Add("--\x00-x")
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		a, err := parseSendmailArgs(args)
		if err == nil && a == nil {
			t.Fatal("nil result without error")
		}
	})
}
