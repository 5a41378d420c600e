package settings

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A user private group (Debian, Ubuntu, Fedora: a group of the user's
// own and umask 002, so that an editor saves config.toml mode 0664)
// lets the file be group-writable; a group with another member does not.
func TestGroupWritableConfig(t *testing.T) {
	dir := t.TempDir()
	oldG, oldU := groupFile, userFile
	t.Cleanup(func() { groupFile, userFile = oldG, oldU })
	groupFile, userFile = filepath.Join(dir, "group"), filepath.Join(dir, "passwd")
	p := filepath.Join(dir, "config.toml")
	os.WriteFile(p, []byte("store = \"mbox:~/mbox\"\n"), 0o600)
	os.Chmod(p, 0o664)
	st, _ := os.Stat(p)
	gid := int(fileGid(st))
	uid := os.Getuid()
	id := NewIdentity("alice", dir, "", uid)
	line := func(name, members string) string { return name + ":x:" + itoa(gid) + ":" + members + "\n" }
	for _, tc := range []struct {
		group, passwd string
		ok            bool
	}{
		{line("alice", ""), "alice:x:" + itoa(uid) + ":" + itoa(gid) + "::/h:/bin/sh\n", true},
		{line("alice", "alice"), "", true},
		{line("staff", "alice,bob"), "", false},
		{line("alice", ""), "bob:x:" + itoa(uid+1) + ":" + itoa(gid) + "::/h:/bin/sh\n", false},
		{"", "", false}, // a group nobody knows
	} {
		os.WriteFile(groupFile, []byte(tc.group), 0o644)
		os.WriteFile(userFile, []byte(tc.passwd), 0o644)
		_, err := ReadConfig(p, id)
		if ok := err == nil; ok != tc.ok {
			t.Errorf("group %q passwd %q: %v, want ok=%v", tc.group, tc.passwd, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "group-writable (mode 0664)") {
			t.Errorf("error does not say group-writable: %v", err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func fileGid(st os.FileInfo) uint32 { return st.Sys().(*syscall.Stat_t).Gid }
