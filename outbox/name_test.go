package outbox

import (
	"strings"
	"testing"
)

func TestEscapeHost(t *testing.T) {
	r := strings.NewReplacer("/", `\057`, ":", `\072`, ".", `\056`)
	for _, h := range []string{"", "vm", "mail.example.org", "a/b:c.d", "..", "ü.example"} {
		if got, want := escapeHost(h), r.Replace(h); got != want {
			t.Errorf("escapeHost(%q) = %q, want %q", h, got, want)
		}
	}
}
