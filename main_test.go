package main

import (
	"testing"

	"homepost/sysexits"
)

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
