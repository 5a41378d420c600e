package settings

import (
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
