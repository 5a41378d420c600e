package settings

import "os"

// LoginSpool reports whether path is the $MAIL that pam_mail(8) puts in
// a login shell's environment for one of users: /var/mail/USER or
// /var/spool/mail/USER. homepost never writes there, so mail(1) reads
// the store rather than such a MAIL; one that holds mail holds what an
// earlier mail system delivered (SpoolLeftover).
func LoginSpool(path string, users ...string) bool {
	for _, u := range users {
		if u != "" && (path == "/var/mail/"+u || path == "/var/spool/mail/"+u) {
			return true
		}
	}
	return false
}

// SpoolLeftover reports whether the login spool at path holds anything
// (a regular file that is not empty).
func SpoolLeftover(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Size() > 0
}

// SameFile reports whether a and b name one existing file (through
// links or other names): MAIL or MBOX naming the store by another path.
func SameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
