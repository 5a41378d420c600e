package settings

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLookupAsOsUser: the invoking user's entry reads as os/user reads it.
func TestLookupAsOsUser(t *testing.T) {
	uid := os.Getuid()
	u, err := user.LookupId(strconv.Itoa(uid))
	login, home, name, ok := lookupUID(uid)
	if (err == nil) != ok {
		t.Fatalf("lookupUID: ok %v, os/user: %v", ok, err)
	}
	if ok && (login != u.Username || home != u.HomeDir || name != u.Name) {
		t.Fatalf("lookupUID = %q %q %q, os/user %q %q %q", login, home, name, u.Username, u.HomeDir, u.Name)
	}
}

func TestFindUserID(t *testing.T) {
	p := filepath.Join(t.TempDir(), "passwd")
	long := strings.Repeat("x", 5000)
	os.WriteFile(p, []byte("# comment\n  \n+nis:x:1001:1001::/nis:/bin/sh\nbad:x:1001:abc::/bad:/bin/sh\n"+
		long+":x:1002:1002::/long:/bin/sh\n  alice:x:1001:1001:Alice A,Room 1,,:/home/alice:/bin/bash\n"), 0o644)
	u := findUserID(p, "1001")
	if u == nil || *u != (passwdEntry{"alice", "/home/alice", "Alice A"}) {
		t.Fatalf("1001: %+v", u)
	}
	if u := findUserID(p, "1002"); u == nil || u.home != "/long" {
		t.Fatalf("1002: %+v", u)
	}
	if u := findUserID(p, "1003"); u != nil {
		t.Fatalf("1003: %+v", u)
	}
	if u := findUserID(filepath.Join(p, "missing"), "1001"); u != nil {
		t.Fatalf("missing file: %+v", u)
	}
}

// A user whom /etc/passwd does not hold (an LDAP or sssd user), run with
// neither USER nor HOME (atd starts a job's mailer so), is found through
// getent: sendmail exited 78, "cannot determine the login name", and
// atd dropped the job's output.
func TestCurrentUserFromGetent(t *testing.T) {
	dir := t.TempDir()
	oldU, oldG := userFile, getent
	t.Cleanup(func() { userFile, getent = oldU, oldG })
	userFile = filepath.Join(dir, "passwd")
	if err := os.WriteFile(userFile, []byte("someone:x:12345:12345::/home/someone:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	uid := os.Getuid()
	getent = filepath.Join(dir, "getent")
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1 $2\" = \"passwd %d\" ] || exit 2\necho 'ldapu:*:%d:100:Ldap User,,,:%s:/bin/sh'\n", uid, uid, dir)
	if err := os.WriteFile(getent, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("USER", "")
	t.Setenv("LOGNAME", "")
	t.Setenv("HOME", "")
	id, err := CurrentUser()
	if err != nil {
		t.Fatalf("CurrentUser: %v", err)
	}
	if id.user != "ldapu" || id.home != dir || id.fullName != "Ldap User" {
		t.Errorf("CurrentUser = %+v, want ldapu, %s, Ldap User", id, dir)
	}
	// What getent says of another uid is not taken.
	if err := os.WriteFile(getent, []byte("#!/bin/sh\necho 'other:*:1:1::/:/bin/sh'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if id, err := CurrentUser(); err == nil {
		t.Errorf("CurrentUser took another uid's entry: %+v", id)
	}
}
