package smtpd

import "testing"

// A secret never begins with a dash, which a command line would take
// for an option (swaks --auth-password -x... said "Unknown option").
func TestSecretNoLeadingDash(t *testing.T) {
	for range 5000 {
		if s := newSecret(); s[0] == '-' || len(s) != 32 {
			t.Fatalf("secret %q", s)
		}
	}
}
