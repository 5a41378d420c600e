#!/bin/sh
# link-system.sh link|unlink BINARY [ROOT]
#
# Links the system's mail entry points (/usr/sbin/sendmail, /usr/bin/mail,
# /usr/bin/mailx, and /usr/lib/sendmail, the traditional path that some
# programs still run, where /usr/lib exists) to homepost's BINARY, each
# only when nothing else is there: a name that another MTA or mailer owns
# is left alone, and the owner (the package, or what the link points to)
# is named. Exits 1 when it refused any. "unlink" removes only links that
# point at BINARY (or the sendmail beside it); /usr/lib/sendmail only
# when it is such a link itself, not one to /usr/sbin/sendmail (as MTA
# packages make it).
# ROOT (default empty) prefixes every system path; the tests use it.
set -u
mode=$1 bin=$2 root=${3:-}
real_bin=$(readlink -f "$bin" 2>/dev/null || echo "$bin")
refused=0

owner_of() { # path target: "package X", or what it is
	if command -v dpkg >/dev/null 2>&1; then
		for q in "$1" "$2"; do
			# dpkg -S prints a diversion first ("local diversion
			# from: P", "diversion by PKG to: P"), then "PKG[, PKG]: P".
			out=$(dpkg -S "$q" 2>/dev/null)
			pkg=$(printf '%s\n' "$out" | sed -n -e '/^local diversion /d' -e '/^diversion by /d' -e 's/: .*//p' | head -n 1)
			to=$(printf '%s\n' "$out" | sed -n -e 's/^local diversion to: //p' -e 's/^diversion by .* to: //p' | head -n 1)
			by=$(printf '%s\n' "$out" | sed -n -e 's/^diversion by \(.*\) to: .*/\1/p' | head -n 1)
			if [ -n "$to" ] && [ -n "$by" ]; then
				echo "package $by, which diverts ${pkg:+package $pkg's }$q to $to (dpkg -S)"; return
			elif [ -n "$to" ]; then
				echo "a local diversion (dpkg-divert)${pkg:+ in place of package $pkg}, the original now at $to (dpkg -S)"; return
			elif [ -n "$pkg" ]; then
				echo "package $pkg (dpkg -S)"; return
			fi
		done
	fi
	if command -v rpm >/dev/null 2>&1; then
		pkg=$(rpm -qf "$2" 2>/dev/null) && { echo "package $pkg (rpm -qf)"; return; }
	fi
	if [ -L "$1" ]; then echo "a link to $(readlink "$1")"; else echo "a file that no known package owns"; fi
}

# /usr/sbin/sendmail goes to the sendmail program installed beside
# homepost (it finds homepost there), where there is one.
sendmail_bin=$bin
if [ -f "$(dirname "$bin")/sendmail" ] && [ ! -L "$(dirname "$bin")/sendmail" ]; then
	sendmail_bin=$(dirname "$bin")/sendmail
fi
real_sendmail=$(readlink -f "$sendmail_bin" 2>/dev/null || echo "$sendmail_bin")

# /usr/lib/sendmail comes after /usr/sbin/sendmail: a link from it to
# /usr/sbin/sendmail (as MTA packages make it) reaches homepost once that
# one is linked, and is left in place.
for name in /usr/sbin/sendmail /usr/lib/sendmail /usr/bin/mail /usr/bin/mailx; do
	p=$root$name
	if [ "$name" = /usr/lib/sendmail ] && [ ! -d "$root/usr/lib" ]; then
		continue
	fi
	target=$(readlink -f "$p" 2>/dev/null || echo "$p")
	to=$bin real_to=$real_bin
	case $name in */sendmail) to=$sendmail_bin real_to=$real_sendmail;; esac
	case $mode in
	link)
		if [ ! -e "$p" ] && [ ! -L "$p" ]; then
			mkdir -p "$(dirname "$p")" && ln -s "$to" "$p" && echo "linked $p -> $to"
		elif [ "$target" = "$real_to" ]; then
			echo "$p is homepost already"
		else
			echo "refusing to replace $p: it is $(owner_of "$p" "$target"); remove that mail program first, or link it by hand" >&2
			refused=1
		fi;;
	unlink)
		if [ "$name" = /usr/lib/sendmail ]; then
			case $(readlink "$p" 2>/dev/null) in
			*/sbin/sendmail | sbin/sendmail) continue;;
			esac
		fi
		if [ -L "$p" ] && { [ "$target" = "$real_to" ] || [ "$target" = "$real_bin" ]; }; then
			rm -f "$p" && echo "removed $p"
		fi;;
	*)
		echo "usage: link-system.sh link|unlink BINARY [ROOT]" >&2; exit 64;;
	esac
done
exit $refused
