// Package forwarder turns an envelope recipient into delivery targets —
// the local store, an mbox file, a Maildir, a command, a remote address,
// or a failure that becomes a bounce — with the semantics of Postfix's
// local(8) and aliases(5), for a user who cannot write /etc/aliases.
//
// It only resolves: nothing here writes a mailbox or runs a command.
// Package courier delivers the targets, and package agent decides when.
//
// # Resolution order
//
// A recipient with a domain that is not in local_domains, nor an address
// literal naming this machine (user@[127.0.0.1]), is remote. A
// local one is looked up whole first, and without its extension only
// when that finds nothing, as Postfix documents recipient_delimiter
// ("user+foo before trying user, and .forward+foo before trying
// .forward") and its local(8) orders the steps: every alias first —
// "user+ext" in the user's aliases file, then in the system aliases
// (read only), then "user" in both, an alias "user" carrying "+ext"
// over to the local addresses it names — then the logins, "user+ext"
// before "user". So with recipient_delimiter "-", my-list is the alias
// my-list and www-data the login www-data (unless an alias www-data,
// or www, says otherwise), while alice-lists is alice's extension
// "lists" only when no login has that whole name. The extension starts
// at the first delimiter character (a recipient_delimiter of several
// characters is a set); postmaster and mailer-daemon are never split,
// nor, when the set holds "-", owner-name and name-request, as
// Postfix's split_addr does (owner_request_special). A login is looked
// up lowercased, then as written (Debian-exim).
//
// Expansion is recursive (at most 100 levels); an alias that names
// itself, directly or through others, is delivered rather than
// expanded again ("me: me+inbox" too), and when that name is no login
// it bounces with 5.4.6 "alias loop: a -> b -> a (file:line,
// file:line)" rather than "user unknown"; duplicate targets are
// removed. A name that no alias expands ends the walk: the user's own
// login reads ~/.forward (".forward+ext" first, if it exists, named
// with the delimiter found) unless written "\user", then the local
// store; root, postmaster and mailer-daemon reach the user's store;
// another local user follows other_users (me, relay or bounce), and a
// name that is neither an alias nor a login bounces with 5.1.1 "user
// unknown" (unless other_users = relay, whose domain knows its own). A
// recipient the message already carries in a Delivered-To field is a
// loop and bounces with 5.4.6.
//
// # File format
//
// An aliases file, like aliases(5):
//
//	# a comment: '#' first on its line (never after a value)
//	name: value, value, ...
//	long: value,
//	    value
//	"with space": value
//
// A line starting with blank space continues the entry above; the name
// may be quoted and is lowercased. A byte order mark at the start of a
// file and CR before LF are ignored. A value is one of
//
//	user, user@domain   an address, expanded again if it is local;
//	                    "a b"@domain keeps its quotes (addr.Requote),
//	                    and a local one is looked up unquoted;
//	                    "(comments)" and blanks around '@' are left out
//	\user               the user's store, without aliases or .forward
//	/path/to/file       an mbox file, appended with locking; an
//	                    existing Maildir (cur/, new/, tmp/) is that
//	                    Maildir without its '/' too, as mail(1) reads
//	                    it; a directory that is no Maildir stays an
//	                    mbox target, which waits (courier.Mbox)
//	/path/to/dir/       a Maildir (trailing slash)
//	|command            a command fed the message, as written (see below)
//	:include:/path      the values in /path, .forward syntax (any case)
//	~/path              the user's home (in the user's own files only)
//
// Double quotes protect commas and blank space ("|cmd -a, b"); inside
// them a backslash escapes the next character. An unquoted |command
// runs to the next comma and is kept as written, quotes and backslashes
// included, because they are the shell's: |procmail -a "two words" must
// reach /bin/sh with its quotes, as sendmail hands it over (Postfix's
// tokenizer would split it at blanks into several addresses). Its single
// and double quotes and backslashes are read as the shell reads them
// only to tell whether a comma ends it. |"cmd args" is "|cmd args".
// A ~/.forward or :include: file holds values only, separated by commas
// or newlines, with "#" comment lines; an empty file, or one with only
// blank and comment lines, means no forwarding. An "owner-name" alias is
// an alias like any other: the envelope sender is not changed to it.
//
// An aliases entry is at most 1 MiB with its continuation lines: a line
// beyond that bounces (5.1.3) for that alias, rather than being dropped.
//
// # Safety
//
// ~/.forward, the user's aliases file and :include: files are obeyed
// only when they are regular files owned by the user or root and
// neither group- nor world-writable (group-writable is refused whatever
// the group holds: membership can change later), in directories that
// nobody else can write (config.toml's rule: owned by the user or root,
// not writable by others unless sticky, a user private group allowed;
// see unsafeDirs). Otherwise the file is ignored with a warning and the
// mail stays in the local store. The system aliases file is read when
// owned by root or the user and not world-writable, in directories that
// any group may write but not everyone. Commands and file targets in
// the system aliases, or in an :include: file the user does not own,
// are never run as the user: the recipient gets the local store and a
// warning. "/dev/null" is a discard wherever it appears.
//
// # Values that cannot be read
//
// No value is dropped without a trace. In an aliases or :include: file,
// a value that cannot be read (no address, blank space in it, an
// unterminated quote, a control character) bounces with 5.1.3 and a
// reason naming file:line and the text, as Postfix's local(8) bounces a
// malformed alias entry, while the other values are delivered; in
// ~/.forward it keeps a copy in the local store instead. Both log a
// warning with file:line, and homepost resolve shows it. An entry that
// cannot be read at all ("name value" without its ':') is no missing
// entry: mail for the name it starts with bounces with 5.1.3 and its
// file:line, or stays in the store with a warning for the user's login
// and the system names. Such a line right after a value that ends with
// a comma ("team: a@x.org," then "b@x.org" not indented) is also a value
// of that entry, the continuation it looks like: mail for team bounces
// for it (5.1.3, file:line) besides going to a@x.org, where sendmail
// and Postfix leave b@x.org out. An alias with no value at all keeps the
// mail in the store. The problems of each file are logged once as it
// is read (Load, and the cache when a file changed), not per message.
//
// # Files config.toml names
//
// An aliases, system_aliases or forward path that config.toml sets,
// other than the default, and that does not exist is a typo, not "no
// file": Check warns with the key and config.toml:N; a name that no
// other file knows is deferred (4.3.0, as Postfix defers while an alias
// map is unavailable) instead of bouncing as "user unknown"; the user's
// own mail goes to the store.
package forwarder
