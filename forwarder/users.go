package forwarder

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"time"
)

// A local name that is neither an alias nor a login bounces with 5.1.1
// "user unknown", as Postfix's local_recipient_maps make it: storing it
// as the user's own mail would hide a typo in a crontab's MAILTO or a
// script's recipient for good.
//
// homepost is built with the pure-Go user lookup (osusergo), which
// reads /etc/passwd only. Where the password database has other
// sources (sss, ldap, winbind, nis in /etc/nsswitch.conf), a name that
// is not in /etc/passwd is asked of getent(1) before it is called
// unknown; when that cannot answer, the copy is deferred, never bounced.

// errLookup means the password database could not say whether a name
// exists.
var errLookup = errors.New("cannot look the name up in the password database")

// lookupUser is the test, a variable so that tests can stand in for
// the machine's password database.
var lookupUser = isUser

// isUser reports whether name is a login on this machine.
func isUser(name string) (bool, error) {
	if name == "" {
		return false, nil
	}
	_, err := user.Lookup(name)
	if err == nil {
		return true, nil
	}
	var unknown user.UnknownUserError
	if !errors.As(err, &unknown) {
		return false, errLookup
	}
	if !otherPasswdSources(nsswitchFile) {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "getent", "passwd", "--", name)
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.ExitCode() == 2 && ctx.Err() == nil:
		return false, nil // getent: the key was not found
	}
	return false, errLookup
}

// nsswitchFile is read for the password database's sources.
var nsswitchFile = "/etc/nsswitch.conf"

// otherPasswdSources reports whether the passwd line of nsswitch.conf
// names a source besides the files that the pure-Go lookup reads and
// systemd's (which only adds the service users it makes up).
func otherPasswdSources(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		db, srcs, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(db) != "passwd" {
			continue
		}
		for _, s := range strings.Fields(srcs) {
			if strings.HasPrefix(s, "[") {
				continue // an action such as [NOTFOUND=return]
			}
			switch s {
			case "files", "compat", "systemd":
			default:
				return true
			}
		}
	}
	return false
}
