package smtpd

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"homepost/safeio"
)

// The secret is the password a client of another user gives with AUTH
// PLAIN or LOGIN on a TCP address. It is a random string in a file of mode 0600
// in the user's config directory, created at first use; the user copies
// it into the program's SMTP settings. It is read at every AUTH, so
// replacing the file changes it at once. A file removed is made anew,
// with a new secret, when the agent reads its configuration again
// (Service.Reconfigure: SIGHUP) or starts; until then clients of other
// users cannot log in (454).

// EnsureSecret creates the secret file when it does not exist yet, and
// says whether it did.
// Two processes creating it at once agree on one secret: the file is
// linked into place, which fails for the second, who then keeps the
// first one's.
func EnsureSecret(path string) (created bool, err error) {
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	}
	return true, createSecret(path)
}

func createSecret(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".smtp-secret.tmp*")
	if err != nil {
		return fmt.Errorf("create the SMTP secret: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.WriteString(newSecret() + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the SMTP secret: %w", err)
	}
	// CreateTemp makes the file mode 0600.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return safeio.SyncDir(dir)
}

// newSecret is 24 random bytes in base64url, which never begins with a
// dash: given on a command line (swaks --auth-password, curl -u), a
// secret that did was taken for an option, once in 64 secrets.
func newSecret() string {
	b := make([]byte, 24)
	for {
		rand.Read(b)
		if s := base64.RawURLEncoding.EncodeToString(b); s[0] != '-' {
			return s
		}
	}
}

// ReadSecret reads the secret. A file that others can read, or that is
// not a regular file of the user's, is refused: a secret others know
// lets them send as the user.
func ReadSecret(path string) (string, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s can be read by others (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 16 {
		return "", fmt.Errorf("%s holds fewer than 16 characters", path)
	}
	return s, nil
}

func secretEqual(secret, given string) bool {
	return subtle.ConstantTimeCompare([]byte(secret), []byte(given)) == 1
}
