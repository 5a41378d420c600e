package doctor

import (
	"os"
	"path/filepath"

	"homepost/config"
	"homepost/settings"
)

// checkMailEnv says what mail(1) reads when $MAIL is set: pam_mail's
// default names a spool that homepost never writes, which mail passes
// over for the store, so mail left there by an earlier mail system is
// unseen unless read with -f; any other MAIL is read in place of the
// store, so new mail is unseen there.
func checkMailEnv(c *checker, cfg *config.Config, mail string) {
	if mail == "" {
		return
	}
	_, store := cfg.StoreKind()
	if filepath.Clean(mail) == filepath.Clean(store) || settings.SameFile(mail, store) {
		return
	}
	if settings.LoginSpool(mail, cfg.User, os.Getenv("USER"), os.Getenv("LOGNAME")) {
		if settings.SpoolLeftover(mail) {
			c.warn("mail", "%s ($MAIL, pam_mail's default) holds mail that homepost did not deliver: mail reads the store (%s) instead; read that mail with mail -f %s", mail, store, mail)
		}
		return
	}
	c.warn("mail", "MAIL=%s: mail(1) reads it, not the store (%s) where homepost delivers: unset MAIL in your shell's profile, or read the store with mail -f %s", mail, store, store)
}
