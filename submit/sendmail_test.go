package submit

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSendmailArgs(t *testing.T) {
	a, err := ParseSendmailArgs(strings.Fields("-ti -fme@x -F Full -oem -odb -N success,delay -R hdrs -V id1 -B8BITMIME -C /x -h 5 -L tag -X /log bob -- -carol"))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Opts.Extract || !a.Opts.IgnoreDots || !a.Opts.MailErrors || a.Opts.Sender != "me@x" || a.Opts.FullName != "Full" ||
		a.Opts.Opts["notify"] != "success,delay" || a.Opts.Opts["ret"] != "hdrs" || a.Opts.Opts["envid"] != "id1" ||
		!slices.Equal(a.Opts.Recipients, []string{"bob", "-carol"}) || a.Mode != "m" {
		t.Fatalf("%+v", a)
	}
	for in, mode := range map[string]string{"-bp": "p", "-bi": "i", "-q": "q", "-q30m": "q", "-bs": "s", "-bv": "v", "-b m": "m"} {
		a, err := ParseSendmailArgs(strings.Fields(in))
		if err != nil || a.Mode != mode {
			t.Errorf("%s: %v %v", in, a, err)
		}
	}
	for _, bad := range []string{"-x", "-f", "-bd", "-bz", "-tZ"} {
		if _, err := ParseSendmailArgs(strings.Fields(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// sendmail's debug flags take the rest of their word, never the
	// next: -d0.1 was refused as an unknown -0.
	for _, in := range []string{"-d bob", "-d0.1 bob", "-d8.99,21.4 -t bob", "-td0.1 bob"} {
		a, err := ParseSendmailArgs(strings.Fields(in))
		if err != nil || !slices.Equal(a.Opts.Recipients, []string{"bob"}) {
			t.Errorf("%s: %+v %v", in, a, err)
		}
	}
	if a, _ := ParseSendmailArgs([]string{"-oi", "-r", "<>"}); !a.Opts.IgnoreDots || a.Opts.Sender != "<>" {
		t.Errorf("-oi -r <>: %+v", a)
	}
	// An empty -f is the null sender, as for Postfix and sendmail (an
	// autoresponder passes it so that no bounce comes back), not the
	// user.
	for _, args := range [][]string{{"-f", "", "bob"}, {"-f", "  ", "bob"}, {"-r", "", "bob"}} {
		if a, err := ParseSendmailArgs(args); err != nil || a.Opts.Sender != "<>" {
			t.Errorf("%q: %+v %v", args, a, err)
		}
	}
	if a, err := ParseSendmailArgs([]string{"-R", "bogus", "bob"}); err != nil || len(a.Warnings) != 1 || a.Opts.Opts["ret"] != "" {
		t.Errorf("-R bogus: %+v %v", a, err)
	}
	if a, err := ParseSendmailArgs([]string{"-R", "HDRS", "bob"}); err != nil || len(a.Warnings) != 0 || a.Opts.Opts["ret"] != "HDRS" {
		t.Errorf("-R HDRS: %+v %v", a, err)
	}
	// A -N value that is no NOTIFY value is ignored with a warning, as
	// Postfix's sendmail does.
	if a, err := ParseSendmailArgs([]string{"-N", "bogus", "bob"}); err != nil || len(a.Warnings) != 1 || a.Opts.Opts["notify"] != "" {
		t.Errorf("-N bogus: %+v %v", a, err)
	}
	for _, ok := range []string{"never", "NEVER", "failure", "success,delay,failure"} {
		if a, err := ParseSendmailArgs([]string{"-N", ok, "bob"}); err != nil || len(a.Warnings) != 0 || a.Opts.Opts["notify"] != ok {
			t.Errorf("-N %s: %+v %v", ok, a, err)
		}
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
		a, err := ParseSendmailArgs(args)
		if err == nil && a == nil {
			t.Fatal("nil result without error")
		}
	})
}
