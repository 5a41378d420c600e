package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/config"
)

// check says when $MAIL keeps mail(1) from showing the store, or names a
// login spool that holds mail homepost did not deliver.
func TestMailEnv(t *testing.T) {
	home := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("hpspooldoctor", home, "Alice", os.Getuid()))
	line := func(mail string) string {
		var b strings.Builder
		checkMailEnv(&checker{w: &b}, cfg, mail)
		return b.String()
	}
	_, store := cfg.StoreKind()
	for _, mail := range []string{"", store, strings.TrimSuffix(store, "/"), "/var/mail/hpspooldoctor"} {
		if got := line(mail); got != "" {
			t.Errorf("MAIL=%q: %q, want nothing", mail, got)
		}
	}
	other := filepath.Join(home, "other")
	if got := line(other); !strings.HasPrefix(got, "warn mail: MAIL="+other+": mail(1) reads it, not the store") {
		t.Errorf("MAIL=other: %q", got)
	}
	spool := "/var/mail/hpspooldoctor"
	if err := os.WriteFile(spool, []byte("From a@b Mon Jan  1 00:00:00 2026\n\nold\n\n"), 0o600); err != nil {
		t.Skipf("cannot create %s: %v", spool, err)
	}
	defer os.Remove(spool)
	if got := line(spool); !strings.Contains(got, "warn mail: "+spool+" ($MAIL, pam_mail's default) holds mail that homepost did not deliver") {
		t.Errorf("MAIL=%s holding mail: %q", spool, got)
	}
}
