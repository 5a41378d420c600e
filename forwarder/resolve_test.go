package forwarder

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/outbox"
)

const debianAliases = `# /etc/aliases
mailer-daemon: postmaster
postmaster: root
nobody: root
hostmaster: root
webmaster: root
www: root
root: alice
devnull: /dev/null
`

func check(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q\nwant %q", what, got, want)
	}
}

func TestDebianChain(t *testing.T) {
	e := newEnv(t, "")
	e.system(debianAliases)
	for _, r := range []string{"mailer-daemon", "MAILER-DAEMON@box.example.org", "postmaster@localhost", "root", "www", "alice", "Alice@box"} {
		check(t, r, e.resolve(r), `\alice`)
	}
	check(t, "remote", e.resolve("bob@example.com"), "bob@example.com")
	e.noWarnings()
}

func TestUserAliasesFirst(t *testing.T) {
	e := newEnv(t, "")
	e.system(debianAliases)
	e.user(".config/homepost/aliases", "root: alice@work.example.com\npostmaster: \\alice, ~/postmaster.mbox\n", 0o600)
	check(t, "root", e.resolve("root"), "alice@work.example.com")
	// The system chain passes through names the user redirected.
	check(t, "www", e.resolve("www"), "alice@work.example.com")
	check(t, "mailer-daemon", e.resolve("mailer-daemon"), `\alice`, "~/postmaster.mbox")
	check(t, "postmaster", e.resolve("postmaster"), `\alice`, "~/postmaster.mbox")
}

func TestExtension(t *testing.T) {
	e := newEnv(t, "")
	e.system(debianAliases + "lists+debian: alice+debian\n")
	e.user(".forward", "alice@elsewhere.example\n", 0o644)
	e.user(".forward+debian", "~/Mail/debian/\n", 0o644)
	check(t, "alice+debian", e.resolve("alice+debian@box.example.org"), "~/Mail/debian/")
	check(t, "alice+other", e.resolve("alice+other"), "alice@elsewhere.example")
	check(t, "root+cron", e.resolve("root+cron"), "alice@elsewhere.example")
	check(t, "lists+debian", e.resolve("lists+debian"), "~/Mail/debian/")
	// root+debian matched "root": the extension is carried over to the
	// local address root names, not to remote ones.
	check(t, "root+debian", e.resolve("root+debian"), "~/Mail/debian/")
	e.user(".config/homepost/aliases", "ext: bob@example.com, alice@localhost\n", 0o600)
	check(t, "ext+debian", e.resolve("ext+debian"), "bob@example.com", "~/Mail/debian/")
	check(t, "\\alice in .forward+x", func() []string {
		e.user(".forward+x", "\\alice, alice+debian\n", 0o644)
		return e.resolve("alice+x")
	}(), `\alice`, "~/Mail/debian/")
}

func TestForwardTargets(t *testing.T) {
	e := newEnv(t, "")
	e.system(debianAliases)
	inc := e.user("list", "carol@example.net, dave@example.net\n", 0o644)
	e.user(".forward", fmt.Sprintf(`# every kind
\alice, alice
bob@example.com
~/mail/archive
/var/tmp/alice-maildir/
"|/usr/bin/procmail -f-"
:include:%s
/dev/null
`, inc), 0o644)
	check(t, "alice", e.resolve("root"),
		`\alice`, "bob@example.com", "~/mail/archive", "/var/tmp/alice-maildir/",
		"|/usr/bin/procmail -f-", "carol@example.net", "dave@example.net", "FAIL 2.0.0 discarded (/dev/null)")
	ts := e.f.Resolve("alice", nil)
	last := ts[len(ts)-1]
	if last.Kind != Fail || last.Result.Status != outbox.Sent {
		t.Errorf("/dev/null: %+v, want a discard counted as sent", last)
	}
	e.noWarnings()
}

// With "-" as the delimiter, names that hold a "-" are found whole first.
func TestDashDelimiter(t *testing.T) {
	e := newEnv(t, "recipient_delimiter = \"-\"\nother_users = \"bounce\"")
	e.user(".forward-lists", "~/Maildir/.Lists/\n", 0o644)
	check(t, "mailer-daemon", e.resolve("mailer-daemon"), `\alice`)
	check(t, "alice-lists", e.resolve("alice-lists"), "~/Maildir/.Lists/")
	check(t, "root-cron", e.resolve("root-cron"), `\alice`)
}

// The store's path is the store, written with or without a '/': an
// mbox made at the path of the Maildir store (or a Maildir at the mbox
// store's) would take its place, and every later copy for the store
// would wait in the queue.
func TestStoreByPath(t *testing.T) {
	e := newEnv(t, "")
	e.user(".forward", "\\alice, ~/Maildir/, ~/Maildir\n", 0o644)
	check(t, "maildir store", e.resolve("alice"), `\alice`)
	e = newEnv(t, "store = \"mbox:~/inbox\"")
	e.user(".forward", "\\alice, ~/inbox, ~/inbox/\n", 0o644)
	check(t, "mbox store", e.resolve("alice"), `\alice`)
}

func TestEmptyForward(t *testing.T) {
	e := newEnv(t, "")
	e.user(".forward", "# nothing here\n\n", 0o644)
	check(t, "alice", e.resolve("alice"), `\alice`)
	e.noWarnings()
}

func TestUnsafeForward(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode os.FileMode
		why  string
	}{
		{"world-writable", 0o666, "world-writable (mode 0666)"},
		{"group-writable", 0o664, "group-writable (mode 0664)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			e.user(".forward", "|/bin/evil\n", tc.mode)
			check(t, "alice", e.resolve("alice"), `\alice`)
			e.wantWarning(tc.why)
		})
	}
	t.Run("other owner", func(t *testing.T) {
		e := newEnv(t, "")
		p := e.root(".forward", "|/bin/evil\n", 0o644)
		if err := os.Chown(p, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		check(t, "alice", e.resolve("alice"), `\alice`)
		e.wantWarning("owned by uid 4242")
	})
	t.Run("root owned is fine", func(t *testing.T) {
		e := newEnv(t, "")
		e.root(".forward", "bob@example.com\n", 0o644)
		check(t, "alice", e.resolve("alice"), "bob@example.com")
	})
	t.Run("fifo", func(t *testing.T) {
		e := newEnv(t, "")
		if err := syscall.Mkfifo(e.path(".forward"), 0o600); err != nil {
			t.Fatal(err)
		}
		check(t, "alice", e.resolve("alice"), `\alice`)
		e.wantWarning("not a regular file")
	})
	t.Run("directory", func(t *testing.T) {
		e := newEnv(t, "")
		os.Mkdir(e.path(".forward"), 0o755)
		check(t, "alice", e.resolve("alice"), `\alice`)
		e.wantWarning("not a regular file")
	})
}

func TestUnsafeUserAliases(t *testing.T) {
	e := newEnv(t, "other_users = \"bounce\"")
	e.system(debianAliases)
	e.user(".config/homepost/aliases", "bob: |/bin/evil\n", 0o666)
	// Every local recipient is kept, even one that would bounce.
	check(t, "bob", e.resolve("bob"), `\alice`)
	check(t, "remote", e.resolve("x@example.com"), "x@example.com")
	e.wantWarning("world-writable")
}

func TestSystemAliasesNotRunAsUser(t *testing.T) {
	e := newEnv(t, "")
	e.system("root: alice, \"|/usr/bin/logger\", /var/log/root.mbox, /srv/root/\n")
	check(t, "root", e.resolve("root"), `\alice`)
	e.wantWarning(`command |/usr/bin/logger not run as alice (it comes from the system aliases)`)
	e.wantWarning("file /var/log/root.mbox not written as alice")
	e.wantWarning("file /srv/root/ not written")
}

func TestInclude(t *testing.T) {
	t.Run("user owned", func(t *testing.T) {
		e := newEnv(t, "")
		inc := e.user("lists/team", "# team\nbob@example.com,\n|/usr/bin/true\n", 0o644)
		e.user(".config/homepost/aliases", "team: :include:~/lists/team, \\alice\n", 0o600)
		check(t, "team", e.resolve("team"), "bob@example.com", "|/usr/bin/true", `\alice`)
		_ = inc
		e.noWarnings()
	})
	t.Run("root owned from system aliases", func(t *testing.T) {
		e := newEnv(t, "")
		inc := e.root("root-list", "carol@example.com, |/usr/bin/true, /tmp/x\n", 0o644)
		e.system("staff: :include:" + inc + "\n")
		check(t, "staff", e.resolve("staff"), "carol@example.com", `\alice`)
		e.wantWarning("not run as alice (the file is not yours)")
	})
	t.Run("unsafe", func(t *testing.T) {
		e := newEnv(t, "")
		inc := e.user("lists/team", "bob@example.com\n", 0o646)
		e.user(".config/homepost/aliases", "team: :include:"+inc+", carol@example.com\n", 0o600)
		check(t, "team", e.resolve("team"), `\alice`, "carol@example.com")
		e.wantWarning("world-writable")
	})
	t.Run("missing", func(t *testing.T) {
		e := newEnv(t, "")
		e.user(".config/homepost/aliases", "team: :include:/nonexistent/x\n", 0o600)
		check(t, "team", e.resolve("team"), `\alice`)
		e.wantWarning("does not exist")
	})
	t.Run("includes itself", func(t *testing.T) {
		e := newEnv(t, "")
		p := e.path("self")
		e.user("self", ":include:"+p+", bob@example.com\n", 0o644)
		e.user(".config/homepost/aliases", "team: :include:"+p+"\n", 0o600)
		check(t, "team", e.resolve("team"), "bob@example.com")
	})
}

func TestLoops(t *testing.T) {
	e := newEnv(t, "")
	e.system(debianAliases)
	loop := "FAIL 5.4.6 mail forwarding loop for "
	check(t, "same", e.resolve("alice@box.example.org", "alice@box.example.org"), loop+"alice@box.example.org")
	check(t, "bare", e.resolve("root", "root@box.example.org"), loop+"root")
	check(t, "qualified", e.resolve("root@localhost", "root"), loop+"root@localhost")
	// A chain that reaches an address the message was delivered to.
	check(t, "chain", e.resolve("postmaster", "alice@box.example.org"), loop+"alice")
	check(t, "other", e.resolve("root", "bob@box.example.org"), `\alice`)
	// Delivered-To is a local delivery's mark, checked at local delivery
	// as Postfix's local(8) does, not by what hands mail to another
	// host: re-sending a received message to one's own remote address
	// (mutt's bounce) is no loop. A loop through that host comes back
	// to a local name, and is caught there.
	check(t, "remote", e.resolve("me@example.com", "me@example.com"), "me@example.com")
}

func TestSelfReference(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", "alice: alice, bob@example.com\nroot: root, alice\na: b\nb: a\n", 0o600)
	e.user(".forward", "alice, carol@example.com\n", 0o644)
	// alice names herself: delivered (through .forward, which names her
	// again: the store), not looped.
	check(t, "alice", e.resolve("alice"), `\alice`, "carol@example.com", "bob@example.com")
	check(t, "root", e.resolve("root"), `\alice`, "carol@example.com", "bob@example.com")
	// A cycle of names that are no logins ends at a name that is no
	// login: an alias loop, said with its names and lines (rather than
	// "user unknown", as Postfix's local(8) says of it, for a name the
	// aliases file does define).
	check(t, "cycle", e.resolve("a"), "FAIL 5.4.6 alias loop: a -> b -> a (~/.config/homepost/aliases:3, ~/.config/homepost/aliases:4)")
}

func TestDuplicates(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", "x: alice, y, z, \\alice, bob@example.com\ny: z, bob@example.com\nz: alice\n", 0o600)
	check(t, "x", e.resolve("x"), `\alice`, "bob@example.com")
}

func TestDepthLimit(t *testing.T) {
	e := newEnv(t, "")
	var b strings.Builder
	for i := range 150 {
		fmt.Fprintf(&b, "a%d: a%d\n", i, i+1)
	}
	b.WriteString("a150: alice\n")
	e.user(".config/homepost/aliases", b.String(), 0o600)
	got := e.resolve("a0")
	if len(got) != 1 || !strings.HasPrefix(got[0], "FAIL 5.4.6 alias expansion of a0 deeper than 100 levels") {
		t.Errorf("a0 = %q", got)
	}
	check(t, "a60", e.resolve("a60"), `\alice`)
}

// A fan-out at every level must not take exponential time.
func TestFanOut(t *testing.T) {
	e := newEnv(t, "")
	var b strings.Builder
	for i := range 60 {
		fmt.Fprintf(&b, "a%d: a%d, a%d, a%d, a%d\n", i, i+1, i+1, i+1, i+1)
	}
	b.WriteString("a60: bob@example.com\n")
	e.user(".config/homepost/aliases", b.String(), 0o600)
	start := time.Now()
	check(t, "a0", e.resolve("a0"), "bob@example.com")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s", d)
	}
}

// fakeUsers makes names the machine's logins for one test.
func fakeUsers(t *testing.T, names ...string) {
	old := lookupUser
	t.Cleanup(func() { lookupUser = old })
	lookupUser = func(n string) (bool, error) {
		if n == "broken-db" {
			return false, errLookup
		}
		return slices.Contains(names, n), nil
	}
}

func TestOtherUsers(t *testing.T) {
	fakeUsers(t, "bob")
	e := newEnv(t, "")
	e.system(debianAliases)
	check(t, "me", e.resolve("bob"), `\alice`)
	check(t, "me+ext", e.resolve("bob+x@localhost"), `\alice`)
	check(t, "unknown", e.resolve("nosuchuser-xyz"), "FAIL 5.1.1 nosuchuser-xyz: user unknown")
	check(t, "unknown+ext", e.resolve("nosuch+x@box"), "FAIL 5.1.1 nosuch+x: user unknown")
	check(t, "no answer", e.resolve("broken-db"), "FAIL 4.3.0 broken-db: cannot look the name up in the password database")
	e = newEnv(t, "other_users = \"relay\"\nrelay_domain = \"corp.example\"")
	e.system(debianAliases)
	check(t, "relay", e.resolve("bob+x@localhost"), "bob+x@corp.example")
	check(t, "root still mine", e.resolve("root"), `\alice`)
	e = newEnv(t, "other_users = \"bounce\"")
	e.system("")
	check(t, "bounce", e.resolve("nosuchuser-xyz"), "FAIL 5.1.1 nosuchuser-xyz: user unknown")
	check(t, "bounce another user", e.resolve("bob"), "FAIL 5.1.1 bob: mail for other local users is not accepted (other_users = bounce)")
	check(t, "no alias for root", e.resolve("root"), `\alice`)
	check(t, "postmaster", e.resolve("postmaster"), `\alice`)
}

func TestBadRecipient(t *testing.T) {
	e := newEnv(t, "")
	for _, r := range []string{"", "@example.com", "a\nb", "<>", "x\x00@example.com"} {
		got := e.resolve(r)
		if len(got) != 1 || !strings.HasPrefix(got[0], "FAIL 5.1.3") {
			t.Errorf("%q = %q", r, got)
		}
	}
}

func TestCacheReload(t *testing.T) {
	e := newEnv(t, "")
	e.user(".forward", "bob@example.com\n", 0o644)
	check(t, "first", e.resolve("alice"), "bob@example.com")
	e.user(".forward", "carol@example.com\n", 0o644)
	check(t, "changed", e.resolve("alice"), "carol@example.com")
	// Same size, same content length: the inode or mtime tells.
	if err := os.Chmod(e.path(".forward"), 0o666); err != nil {
		t.Fatal(err)
	}
	check(t, "chmod", e.resolve("alice"), `\alice`)
	os.Chmod(e.path(".forward"), 0o644)
	check(t, "chmod back", e.resolve("alice"), "carol@example.com")
	os.Remove(e.path(".forward"))
	check(t, "removed", e.resolve("alice"), `\alice`)
}

func TestBrokenAliasesStillDeliver(t *testing.T) {
	e := newEnv(t, "")
	e.user(".config/homepost/aliases", "bad line\nroot: bob@example.com, \"unterminated\nx: y z\n", 0o600)
	// The values read count; a value that cannot be read bounces,
	// naming file:line, whether or not others could be read.
	check(t, "root", e.resolve("root"), "bob@example.com",
		`FAIL 5.1.3 ~/.config/homepost/aliases:2: alias root: bad value: unterminated quote in "\"unterminated"`)
	check(t, "x", e.resolve("x"),
		`FAIL 5.1.3 ~/.config/homepost/aliases:3: alias x: bad value: "y z" contains blank space: separate values with commas, quote commands and file names`)
}

// FuzzResolve: whatever the aliases and .forward say, and whatever
// recipient_delimiter is (several characters too: a set), Resolve
// never panics and every recipient gets at least one target.
func FuzzResolve(f *testing.F) {
	f.Add("root: alice\n", "bob@example.com\n", "root", "+")
	f.Add("a: b, c\nb: a\nc: :include:/nonexistent\n", "\\alice, alice, |x\n", "a+b@box", "+")
	f.Add("x: \"|cmd\", /f, /d/, ~/g\n", "", "x", "+")
	f.Add("x: !old@example.org, \"!5.1.1 x\"@example.org\n", "!y@example.org", "x", "+")
	f.Add("\"two words\": \"a,b\"@example.org, \"two words\"\nx: :INCLUDE:/nonexistent\n", "\"john doe\"@example.org, |cmd \"a b\"\n", "\"two words\"+ext", "+")
	f.Add("team: a@test.invalid,\nb@test.invalid\nlist2 c@test.invalid\n", "", "team", "+")
	f.Add("lista: listb\nlistb: lista, x@example.org\nself: self\n", "lista", "lista", "+")
	f.Add("www: www-data, x@example.org\nmy-list: y@example.org\n", "", "www-data", "-")
	f.Add("owner: x@example.org\nlist: y@example.org\n", "", "owner-list-request", "-")
	f.Add("me: alice-inbox\nalice-x: alice\n", "alice-x", "Alice-X-y@box", "-")
	f.Add("alice+x: \\alice-y\n", "\\alice+x-y\n", "alice+x-y", "+-")
	f.Add("", "", "mailer-daemon-x", "-")
	f.Add("a: a.b\n", "", "a.b", ".")
	f.Add("", "", "-x", "-")
	f.Add("x\u00e9: y\n", "", "X\u00c9\u00e9\u00c9z", "\u00e9")
	f.Fuzz(func(t *testing.T, aliases, forward, rcpt, delim string) {
		e := newEnv(t, "")
		e.cfg.RecipientDelimiter = delim
		n := e.f.parseName(rcpt)
		if n.written != rcpt || n.split() && n.key != n.base+n.sep+n.ext || !n.split() && (n.base != n.key || n.ext != "") {
			t.Fatalf("parseName(%q) with %q = %+v", rcpt, delim, n)
		}
		e.user(".config/homepost/aliases", aliases, 0o600)
		e.user(".forward", forward, 0o600)
		ts := e.f.Resolve(rcpt, map[string]bool{"loop@box.example.org": true})
		if len(ts) == 0 {
			t.Fatalf("no target for %q", rcpt)
		}
		for _, tg := range ts {
			if tg.Kind != Fail && tg.Value == "" {
				t.Fatalf("empty target %+v", tg)
			}
			// The queue journal keeps targets as their Spec.
			if back := ParseSpec(tg.Spec(), tg.Via); back != tg {
				t.Fatalf("ParseSpec(%q) = %+v, want %+v", tg.Spec(), back, tg)
			}
		}
	})
}

// The password database is asked beyond /etc/passwd only where
// nsswitch.conf names another source.
func TestOtherPasswdSources(t *testing.T) {
	dir := t.TempDir()
	for text, want := range map[string]bool{
		"passwd:         files systemd\ngroup: files ldap\n": false,
		"passwd: compat\n": false,
		"# passwd: ldap\npasswd: files [NOTFOUND=return]\n": false,
		"passwd: files sss\n":                               true,
		"passwd:ldap # directory\n":                         true,
	} {
		p := dir + "/nsswitch.conf"
		os.WriteFile(p, []byte(text), 0o644)
		if got := otherPasswdSources(p); got != want {
			t.Errorf("%q: %v", text, got)
		}
	}
	if otherPasswdSources(dir + "/missing") {
		t.Error("a missing file names other sources")
	}
}
