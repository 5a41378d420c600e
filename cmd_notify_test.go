package main

import (
	"strings"
	"testing"
)

func TestCheckUnitName(t *testing.T) {
	for _, ok := range []string{"backup.service", "homepost-notify@cron.service.service", `sys-devices-x\x2dy.device`, "a:b_c"} {
		if err := checkUnitName(ok); err != nil {
			t.Errorf("checkUnitName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "a b", "a/b", "a;b", "$(x)", "a\nb", strings.Repeat("a", 300)} {
		if checkUnitName(bad) == nil {
			t.Errorf("checkUnitName(%q) accepted", bad)
		}
	}
}

func FuzzCheckUnitName(f *testing.F) {
	f.Add("backup.service")
	f.Add("x@y.service")
	f.Fuzz(func(t *testing.T, u string) {
		if checkUnitName(u) == nil && (strings.ContainsAny(u, " /;$`'\"\n") || strings.HasPrefix(u, "-")) {
			t.Errorf("accepted %q", u)
		}
	})
}
