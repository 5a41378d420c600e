package main

import (
	"fmt"
	"os"
	"strings"

	"homepost/addr"
	"homepost/config"
	"homepost/courier"
	"homepost/forwarder"
	"homepost/outbox"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "resolve",
		summary: "explain what addresses expand to (as sendmail -bv); sends nothing",
		run:     runResolve,
	})
}

const resolveUsage = `usage: homepost resolve [--] ADDRESS...

Shows what each address expands to, as the agent would deliver it now,
and why: each alias with its file:line, each ~/.forward or :include:
file, and each safety decision (a file ignored for its owner or mode, a
command from /etc/aliases not run). A value that cannot be read, a line
left out of an aliases file, an alias loop and an aliases or forward
path set in config.toml that does not exist are shown with their
file:line. A file target that names an existing Maildir without the
trailing '/' is shown as that Maildir; one that names a directory but no
Maildir is shown with a warning and its file:line (its mail waits in
the queue until the line ends with '/'). A command whose program is
not found is shown with a warning and its file:line (every message to
it bounces). So is a file target the agent can never write: a symbolic
link, an mbox of another user's, a file or directory you cannot write
or create (its mail would wait in the queue until that is fixed). An
argument is read as sendmail reads a recipient: "a, b" is two
addresses, and one that is no address ("a@") is refused. Nothing is
sent. Same as sendmail -bv. After --, every argument is an address,
one that begins with "-" too.

Exit status: 0; 67 when an address would bounce; 65 when an argument
is no address (sendmail refuses it); 64 without an address.
See homepost-forward(5).
`

// runResolve is homepost resolve and sendmail -bv.
func runResolve(args []string) int {
	var addrs []string
options:
	for i, a := range args {
		switch {
		case a == "-h" || a == "--help":
			fmt.Print(resolveUsage)
			return sysexits.OK
		case a == "--":
			// The end of the options: an address may begin with "-".
			addrs = append(addrs, args[i+1:]...)
			break options
		case strings.HasPrefix(a, "-") && len(a) > 1:
			fail("resolve", fmt.Errorf("unknown option %s", a))
			return sysexits.Usage
		default:
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		fail("resolve", fmt.Errorf("no address given"))
		fmt.Fprint(os.Stderr, "usage: homepost resolve ADDRESS...\n")
		return sysexits.Usage
	}
	cfg, code := loadConfig("resolve")
	if cfg == nil {
		return code
	}
	f := forwarder.New(cfg, nil)
	status := sysexits.OK
	for i, arg := range addrs {
		if i > 0 {
			fmt.Println()
		}
		fmt.Printf("%s:\n", forwarder.Visible(arg))
		// As sendmail reads a recipient argument: "root"@localhost is
		// root@localhost, "a, b" is a and b, and what is no address
		// ("a@", "a b") is refused (exit 65) rather than taken for a
		// remote or local name that sendmail would never queue.
		list, errs := addr.ParseListEach(arg)
		for _, err := range errs {
			fmt.Printf("  bad recipient address: %s; sendmail refuses it\n", forwarder.Visible(err.Error()))
			status = sysexits.DataErr
		}
		if len(list) == 0 && len(errs) == 0 {
			// Nothing sendmail would read as a recipient ("<>", a
			// group with no member): the resolver says why.
			list = []string{arg}
		}
		for k, a := range list {
			switch {
			case len(list) > 1:
				fmt.Printf("  address %d of %d, as sendmail reads the list: %s\n", k+1, len(list), forwarder.Visible(a))
			case a != arg && (len(errs) > 0 || !plainForm(arg, a)):
				fmt.Printf("  %s is read as the address %s, as sendmail reads it\n", forwarder.Visible(arg), forwarder.Visible(a))
			}
			targets := f.Explain(a, nil, func(depth int, msg string) {
				fmt.Printf("  %s%s\n", strings.Repeat("  ", depth), msg)
			})
			fmt.Println("  delivers to:")
			for _, t := range targets {
				fmt.Printf("    %s\n", describeTarget(t, cfg))
				if t.Kind == forwarder.Fail && t.Result.Status == outbox.Bounced && status == sysexits.OK {
					status = sysexits.NoUser
				}
			}
		}
	}
	return status
}

// plainForm reports whether the address a is arg written another usual
// way ("Name <a>", "<a>", a quoted local part that needs no quotes, a
// comment): no need to say how arg was read. A reading that drops
// something else (":include:/x" is read as include:/x, the ':' taken
// for the end of a group's name) is said.
func plainForm(arg, a string) bool {
	arg = strings.TrimSpace(arg)
	if strings.HasSuffix(arg, ">") && strings.Contains(arg, "<") {
		return true
	}
	if strings.ContainsAny(arg, "(\"") {
		return true
	}
	return false
}

func describeTarget(t forwarder.Target, cfg *config.Config) string {
	switch t.Kind {
	case forwarder.Store:
		return "local store " + cfg.Store
	case forwarder.Mbox:
		if dir, md := courier.DirectoryAt(t.Value); dir && !md {
			// Its line's warning is above; the summary says it too.
			return "mbox " + t.Value + " (a directory but not a Maildir: it would wait in the queue)"
		}
		if courier.Unwritable(t.Value, false, cfg.UID) != nil {
			return "mbox " + t.Value + " (cannot be written: it would wait in the queue)"
		}
		return "mbox " + t.Value
	case forwarder.Maildir:
		if courier.Unwritable(t.Value, true, cfg.UID) != nil {
			return "Maildir " + t.Value + " (cannot be written: it would wait in the queue)"
		}
		return "Maildir " + t.Value
	case forwarder.Command:
		return "command " + t.Value + " (run as " + cfg.User + ")"
	case forwarder.Remote:
		if cfg.Relay.URL == "" {
			return "remote " + t.Value + " (no relay configured: it would wait in the queue)"
		}
		return "remote " + t.Value + " (through the smarthost)"
	}
	switch t.Result.Status {
	case outbox.Sent:
		return "nothing: " + t.Result.Reason
	case outbox.Deferred:
		return "deferred: " + t.Result.Text()
	}
	return "bounce: " + t.Result.Text()
}
