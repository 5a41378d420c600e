package e2e

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// hyphenLogins returns the logins in /etc/passwd that hold a "-"
// (www-data, systemd-timesync, Debian-exim on Debian), www-data first.
func hyphenLogins(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("/etc/passwd")
	if err != nil {
		t.Skipf("SKIP: no /etc/passwd to find a login with a hyphen in: %v", err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, _, ok := strings.Cut(sc.Text(), ":")
		// "+name" and "-name" are NIS compat entries, not logins;
		// homepost-* are made and removed by other test suites.
		if ok && strings.Contains(name, "-") && !strings.HasPrefix(name, "+") && !strings.HasPrefix(name, "-") &&
			!strings.HasPrefix(name, "homepost-") && name != testenv.Login(t) {
			names = append(names, name)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Skip("SKIP: /etc/passwd has no login with a hyphen in it (www-data on Debian)")
	}
	if i := slices.Index(names, "www-data"); i > 0 {
		names[0], names[i] = names[i], names[0]
	}
	return names
}

// With recipient_delimiter = "-" (qmail and Exim style), a login that
// holds a "-" is that login, looked up whole before the part before the
// "-", as Postfix documents ("user+foo before trying user"): www-data
// is another user (other_users = me: the user's store), not the
// unknown user "www" (5.1.1). The user's own extension still reads
// .forward-ext when no login has that whole name.
func TestResolveHyphenLogin(t *testing.T) {
	t.Parallel()
	logins := hyphenLogins(t)
	e := testenv.New(t, "recipient_delimiter = \"-\"\n")
	out, errOut, code := e.Run(nil, "homepost", append([]string{"resolve"}, logins...)...)
	if code != 0 {
		t.Errorf("homepost resolve %s: exit %d, want 0\n%s%s", strings.Join(logins, " "), code, out, errOut)
	}
	if strings.Contains(out, "user unknown") || strings.Contains(out, "bounce") {
		t.Errorf("a login with a hyphen bounces:\n%s", out)
	}
	for _, l := range logins {
		want := strings.ToLower(l) + " is another user (login " + strings.ToLower(l) + "): other_users = me"
		if !strings.Contains(out, want) {
			t.Errorf("resolve %s lacks %q:\n%s", l, want, out)
		}
	}

	// The user's own extension: no login is called <me>-lists.
	me := testenv.Login(t)
	if err := os.WriteFile(e.Path(".forward-lists"), []byte("~/Maildir/.Lists/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code = e.Run(nil, "homepost", "resolve", me+"-lists")
	if code != 0 || !strings.Contains(out, e.Path("Maildir", ".Lists")+"/") {
		t.Errorf("resolve %s-lists (exit %d): want the Maildir ~/Maildir/.Lists/ from .forward-lists:\n%s", me, code, out)
	}

	// other_users = bounce says that it is a login, not an unknown name.
	e = testenv.New(t, "recipient_delimiter = \"-\"\nother_users = \"bounce\"\n")
	out, _, code = e.Run(nil, "homepost", "resolve", logins[0])
	if want := "mail for other local users is not accepted"; code != 67 || !strings.Contains(out, want) {
		t.Errorf("resolve %s with other_users = bounce (exit %d, want 67): lacks %q:\n%s", logins[0], code, want, out)
	}
}
