#!/bin/sh
# install-bin.sh COMMAND BINDIR [ARGS]
#
#   install BINDIR LINKS...  puts ./homepost and ./sendmail in BINDIR, with
#                            the LINKS to homepost and send-mail to
#                            sendmail. Each replaces the old one at once
#                            (written under a temporary name in BINDIR,
#                            then renamed over it), so that a mail or
#                            sendmail started meanwhile runs the old
#                            program or the new, never half of one. A name
#                            that is not homepost's (the user's own
#                            program, another MTA's link) is left as it
#                            is, and named. Exits 1 only when homepost
#                            itself cannot be installed.
#   uninstall BINDIR LINKS...  removes what is homepost's, and only that.
#   restart BINDIR           ends the background delivery (homepost agent
#                            --background) that runs BINDIR's old homepost,
#                            then lets the new homepost start it again
#                            when mail waits. When the configuration has
#                            an error, says so and leaves it running (the
#                            new one would only hold the queue). An
#                            agent started by hand or by cron that runs
#                            the old homepost is named, with how to
#                            restart it.
#   stop BINDIR              ends it, and says when mail still waits.
#
# The agent's lock and the outbox are where homepost itself finds them
# (homepost check --paths, asked of ./homepost, else BINDIR's): whatever
# the layout of config.toml, $HOMEPOST_CONFIG and $XDG_CONFIG_HOME.
#   path BINDIR              says which program sendmail, mail and mailq
#                            run on the PATH, when it is not homepost.
#
# homepost's own, in BINDIR: a link to homepost (or sendmail) beside it,
# or a file built from homepost's Go module (its build information, which
# homepost check reads too, names the module homepost).
set -u
cmd=$1 bindir=$2
shift 2

# is_build FILE: FILE is a homepost build (homepost or its sendmail).
is_build() {
	[ -f "$1" ] && LC_ALL=C grep -aq "^mod	homepost	" "$1" 2>/dev/null
}

real_dir=$(cd "$bindir" 2>/dev/null && pwd -P || echo "$bindir")

# ours NAME: BINDIR/NAME is homepost's (or free).
ours() {
	p=$bindir/$1
	if [ -L "$p" ]; then
		t=$(readlink "$p")
		case $t in
		homepost | sendmail | "$bindir/homepost" | "$bindir/sendmail" | "$real_dir/homepost" | "$real_dir/sendmail") return 0;;
		esac
		return 1
	fi
	[ ! -e "$p" ] || is_build "$p"
}

# what NAME: what BINDIR/NAME is, for a message.
what() {
	p=$bindir/$1
	if [ -L "$p" ]; then echo "a link to $(readlink "$p")"
	elif [ -d "$p" ]; then echo "a directory"
	elif [ -f "$p" ]; then echo "a program of its own, not a homepost build"
	elif [ -e "$p" ]; then echo "not a regular file"
	else echo "it does not exist"
	fi
}

skip() { # NAME [WHAT-TO-DO]
	echo "homepost: left $bindir/$1 as it is: it is not homepost's ($(what "$1")); ${2:-to have $1 run homepost, move it away and run make install again}" >&2
}

# put SOURCE NAME: install the file SOURCE as BINDIR/NAME, mode 0755.
put() {
	tmp=$bindir/.$2.new.$$
	if install -m 0755 "$1" "$tmp" && mv -f -T "$tmp" "$bindir/$2"; then return 0; fi
	rm -f "$tmp"
	return 1
}

# link TARGET NAME: BINDIR/NAME becomes a link to TARGET.
link() {
	tmp=$bindir/.$2.new.$$
	rm -f "$tmp"
	if ln -s "$1" "$tmp" && mv -f -T "$tmp" "$bindir/$2"; then return 0; fi
	rm -f "$tmp"
	return 1
}

# paths: where the configuration puts the agent's lock ($lock) and the
# outbox ($outbox), as homepost itself reads the file, whatever its
# layout (homepost check --paths): the freshly built ./homepost is
# asked, else BINDIR's. $conf is the file. When the file has an error,
# $paths_err says so (homepost's own message), and $lock and $outbox are
# the places the queue still uses meanwhile, or empty when even those
# cannot be told: nothing is guessed then. Only when no homepost here
# knows --paths (an older build, at make uninstall before any make) are
# the file's top-level state_dir and outbox lines read with sed, which
# a file laid out otherwise defeats, and $paths_err says that too.
paths() {
	lock= outbox= paths_err= conf=
	errf=$(mktemp "${TMPDIR:-/tmp}/homepost-paths.XXXXXX") || { paths_err="cannot make a temporary file"; return 0; }
	for hp in ./homepost "$bindir/homepost"; do
		[ -f "$hp" ] && [ -x "$hp" ] && is_build "$hp" || continue
		out=$("$hp" check --paths 2>"$errf")
		rc=$?
		[ "$rc" = 64 ] && continue # no --paths: an older homepost
		conf=$(printf '%s\n' "$out" | sed -n 's/^config=//p')
		lock=$(printf '%s\n' "$out" | sed -n 's/^lock=//p')
		outbox=$(printf '%s\n' "$out" | sed -n 's/^outbox=//p')
		if [ "$rc" != 0 ]; then
			paths_err=$(sed -e 's/^homepost: check: //' -e '/^(the paths printed/d' "$errf")
			[ -n "$paths_err" ] || paths_err="$hp check --paths exited $rc"
		fi
		if [ -z "$lock" ] || [ -z "$outbox" ]; then lock= outbox=; fi
		rm -f "$errf"
		return 0
	done
	rm -f "$errf"
	paths_sed
}

# located LEFT: whether paths found the agent's lock; if not, it says
# why and what is left as it is (LEFT) on stderr.
located() {
	[ -n "$lock" ] && return 0
	echo "homepost: cannot tell where the agent's lock and the outbox are: $paths_err" >&2
	echo "homepost: $1" >&2
	return 1
}

# paths_sed: the fallback of paths for a homepost that predates --paths.
paths_sed() {
	state=${XDG_STATE_HOME:-$HOME/.local/state}
	case $state in /*) ;; *) state=$HOME/.local/state;; esac
	state=$state/homepost
	conf=${HOMEPOST_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/homepost/config.toml}
	o=
	if [ -r "$conf" ]; then
		s=$(sed -n -e '/^[[:space:]]*\[/q' -e 's/^[[:space:]]*state_dir[[:space:]]*=[[:space:]]*["'\'']\([^"'\'']*\)["'\''][[:space:]]*\(#.*\)\{0,1\}$/\1/p' "$conf" | tail -n 1)
		case $s in "~/"*) state=$HOME/${s#"~/"};; /*) state=$s;; esac
		o=$(sed -n -e '/^[[:space:]]*\[/q' -e 's/^[[:space:]]*outbox[[:space:]]*=[[:space:]]*["'\'']\([^"'\'']*\)["'\''][[:space:]]*\(#.*\)\{0,1\}$/\1/p' "$conf" | tail -n 1)
	fi
	outbox=$state/outbox
	case $o in "~/"*) outbox=$HOME/${o#"~/"};; /*) outbox=$o;; esac
	lock=$state/agent.lock
	echo "homepost: no homepost here to ask where $conf puts the agent's lock and the outbox (neither ./homepost nor $bindir/homepost is a homepost that knows check --paths): read its top-level state_dir and outbox lines instead, which a file laid out otherwise defeats: $lock" >&2
}

# background: the pid of the background delivery that holds the lock
# ($lock, from paths) and runs BINDIR's homepost (the old one, deleted by
# an upgrade, or the current), or nothing.
background() {
	[ -n "$lock" ] && [ -r "$lock" ] || return 0
	pid=$(sed -n '1s/^\([0-9][0-9]*\).*/\1/p' "$lock")
	[ -n "$pid" ] || return 0
	args=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 0
	case $args in
	"homepost agent --background " | *"/homepost agent --background ") ;;
	*) return 0;;
	esac
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 0
	case $exe in
	"$real_dir/homepost" | "$real_dir/homepost (deleted)" | "$bindir/homepost" | "$bindir/homepost (deleted)") echo "$pid";;
	esac
}

# old_agent: says so when the agent that holds the lock ($lock) is not a
# background delivery and runs BINDIR's homepost that this install has
# just replaced: an agent started by hand or by cron's @reboot line keeps
# running the old program until it is restarted, and only whoever
# started it knows how (its environment, where its output goes), so it
# is named with how to restart it rather than restarted.
old_agent() {
	[ -n "$lock" ] && [ -r "$lock" ] || return 0
	pid=$(sed -n '1s/^\([0-9][0-9]*\).*/\1/p' "$lock")
	[ -n "$pid" ] || return 0
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 0
	case $exe in
	"$real_dir/homepost (deleted)" | "$bindir/homepost (deleted)") ;;
	*) return 0;;
	esac
	args=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 0
	case $args in
	*" agent --background "*) return 0;;
	*" agent "*) ;;
	*) return 0;;
	esac
	if grep -q '/homepost\.service' "/proc/$pid/cgroup" 2>/dev/null; then
		how="systemctl --user restart homepost"
	else
		how="kill $pid; then start it as you did (homepost agent)"
	fi
	echo "homepost: an agent (pid $pid) runs the old homepost: restart it: $how"
}

# stop_background: ends it (SIGTERM: it ends the delivery in progress,
# waiting up to 32 s for the answer to a message the smarthost has
# whole), waiting up to a minute.
stop_background() {
	pid=$(background)
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	i=0
	while [ -n "$(tr -d '\0' 2>/dev/null <"/proc/$pid/cmdline")" ]; do
		i=$((i + 1))
		if [ "$i" -ge 600 ]; then
			echo "homepost: the background delivery (pid $pid) has not ended within a minute of SIGTERM; it still runs the old homepost" >&2
			return 1
		fi
		sleep 0.1 2>/dev/null || sleep 1
	done
	echo "homepost: stopped the background delivery of the old homepost (pid $pid)"
}

# waiting: how many messages the outbox holds (new/ and cur/).
waiting() {
	n=0
	for f in "$outbox"/new/* "$outbox"/cur/*; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}

case $cmd in
install)
	install -d "$bindir" || exit 1
	if ! ours homepost; then
		echo "homepost: refusing to replace $bindir/homepost: it is not homepost's ($(what homepost)); nothing was installed: move it away and run make install again" >&2
		exit 1
	fi
	put homepost homepost || exit 1
	done_links=
	for l in "$@"; do
		if ours "$l"; then link homepost "$l" || exit 1; done_links="$done_links $l"; else skip "$l"; fi
	done
	sm="$bindir/sendmail and send-mail"
	if ours sendmail; then
		put sendmail sendmail || exit 1
		sm_target=sendmail
	else
		skip sendmail "send-mail runs homepost's sendmail instead; to have sendmail run homepost, move it away and run make install again"
		sm_target=homepost sm="send-mail"
	fi
	if ours send-mail; then link "$sm_target" send-mail || exit 1; else skip send-mail; sm=${sm%" and send-mail"}; sm=${sm%"send-mail"}; fi
	echo "installed $bindir/homepost, its links (${done_links# })${sm:+, $sm}"
	;;
uninstall)
	for l in "$@" send-mail sendmail homepost; do
		p=$bindir/$l
		[ -e "$p" ] || [ -L "$p" ] || continue
		if ours "$l"; then rm -f "$p"; else echo "homepost: left $p: it is not homepost's ($(what "$l"))"; fi
	done
	;;
restart)
	paths
	located "a background delivery of the old homepost, if one runs, is left as it is; fix the file (homepost check), then run make install again" || exit 0
	if [ -n "$paths_err" ]; then
		# The new homepost would only hold the queue (its file does
		# not load); the old one delivers with what it read before.
		echo "homepost: $conf has an error:" >&2
		printf '%s\n' "$paths_err" | sed 's/^/  /' >&2
		pid=$(background)
		if [ -n "$pid" ]; then
			echo "homepost: left the background delivery of the old homepost (pid $pid) running: it delivers with the configuration it read before; fix the file, then run make install again" >&2
		elif [ "$(waiting)" -gt 0 ]; then
			echo "homepost: mail waits in $outbox, and is delivered once the file is fixed (homepost check)" >&2
		fi
		old_agent
		exit 0
	fi
	old_agent
	stop_background
	[ -x "$bindir/homepost" ] && is_build "$bindir/homepost" || exit 0
	[ "$(waiting)" -gt 0 ] || exit 0
	# mailq starts the background delivery when mail waits and no agent
	# runs (its messages say so on stderr; install says it once).
	"$bindir/homepost" mailq >/dev/null 2>&1
	i=0
	while [ "$i" -lt 30 ]; do
		pid=$(background)
		if [ -n "$pid" ]; then
			echo "homepost: mail waits in $outbox: the new homepost delivers it (background delivery, pid $pid)"
			exit 0
		fi
		i=$((i + 1))
		sleep 0.1 2>/dev/null || sleep 1
	done
	;;
stop)
	paths
	located "a background delivery, if one runs, is left as it is (it ends when nothing waits)" || exit 0
	if [ -n "$paths_err" ]; then
		echo "homepost: $conf has an error; the agent's lock and the outbox are taken where the queue goes meanwhile ($outbox):" >&2
		printf '%s\n' "$paths_err" | sed 's/^/  /' >&2
	fi
	stop_background
	n=$(waiting)
	if [ "$n" -gt 0 ]; then
		m="$n messages wait"
		[ "$n" = 1 ] && m="1 message waits"
		echo "homepost: $m in the outbox $outbox, and nothing delivers them now: install homepost again (make install) to deliver them, or move them elsewhere"
	fi
	;;
path)
	# Which program each name runs on the user's PATH, when not homepost.
	case ":$PATH:" in *":$bindir:"*) ;; *) exit 0;; esac
	hp=$(readlink -f "$bindir/homepost" 2>/dev/null)
	bad=
	for n in sendmail mail mailq; do
		w=$(command -v "$n" 2>/dev/null)
		r=$(readlink -f "$w" 2>/dev/null)
		if [ -n "$r" ] && { [ "$r" = "$hp" ] || is_build "$r"; }; then continue; fi
		bad=1
		if [ -z "$w" ]; then
			echo "  no $n on your PATH ($bindir/$n: $(what "$n"))"
		elif [ "$w" = "$bindir/$n" ]; then
			echo "  $n runs $w, which is not homepost's ($(what "$n")): make install left it"
		elif [ ! -e "$bindir/$n" ] && [ ! -L "$bindir/$n" ]; then
			# Not an order of PATH: nothing of that name is in BINDIR.
			echo "  $n runs $w, not homepost ($bindir/$n: it does not exist)"
		else
			d=${w%/*}
			echo "  $n runs $w, not homepost: $d comes before $bindir on your PATH"
		fi
	done
	[ -z "$bad" ]
	;;
*)
	echo "usage: install-bin.sh install|uninstall|restart|stop|path BINDIR [LINKS...]" >&2
	exit 64
	;;
esac
