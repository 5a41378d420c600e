#!/bin/sh
# version.sh prints the version a build is stamped with: git describe in a
# clone; outside one (a release tarball, a downloaded ZIP), the commit
# that git archive wrote into mk/version (export-subst); else "dev".
if v=$(git describe --always --dirty 2>/dev/null); then
	echo "$v"
	exit 0
fi
v=$(cat "$(dirname "$0")/version" 2>/dev/null)
case $v in
'$'* | '') echo dev ;;
*) echo "$v" ;;
esac
