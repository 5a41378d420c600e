#!/bin/bash
# setup.sh installs (once) and starts a Postfix that the relay black-box
# test uses as a smarthost: it listens on 127.0.0.1:2525 and stores every
# message it accepts for the domain test.invalid in one Maildir,
# /var/spool/homepost-test/inbox/. It needs root and Debian's apt; run it
# again at will (it is idempotent and returns at once when all is set).
#
# It also listens with TLS and AUTH on 127.0.0.1:2587 (STARTTLS) and
# 127.0.0.1:2465 (TLS from the first byte), with a certificate from a test
# CA, when openssl and Cyrus SASL's saslpasswd2 are installed.
#
# Postfix is installed so that it does NOT own /usr/sbin/sendmail, mailq,
# newaliases or /usr/lib/sendmail: dpkg-divert moves them to *.postfix,
# because those names belong to the mail agent under test.
set -eu

PORT=2525
SPOOL=/var/spool/homepost-test
MAPS=/etc/postfix/homepost-test-vmailbox

if [ "$(id -u)" != 0 ]; then
	echo "setup.sh: needs root to install Postfix; skipping" >&2
	exit 0
fi

installed() { [ "$(dpkg-query -W -f='${Status}' postfix 2>/dev/null)" = "install ok installed" ]; }

if ! installed; then
	for f in /usr/sbin/sendmail /usr/lib/sendmail /usr/bin/mailq /usr/bin/newaliases; do
		dpkg-divert --local --no-rename --divert "$f.postfix" --add "$f" >/dev/null
	done
	# The package's postinst runs "newaliases" by name; with the name
	# diverted, give it one that runs Postfix's own.
	shim=$(mktemp -d)
	printf '#!/bin/sh\nexec /usr/sbin/sendmail.postfix -bi "$@"\n' >"$shim/newaliases"
	chmod 755 "$shim/newaliases"
	# Keep the package from starting the daemon itself (there may be no
	# init system); it is started below.
	policy=
	if ! [ -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy=1
	fi
	echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
	echo "postfix postfix/mailname string homepost-test.invalid" | debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp)
	rc=0
	{
		PATH="$shim:$PATH" apt-get install -y -q --no-install-recommends postfix ||
			{ apt-get update -q && PATH="$shim:$PATH" apt-get install -y -q --no-install-recommends postfix; } ||
			PATH="$shim:$PATH" dpkg --configure -a
	} >"$log" 2>&1 || rc=$?
	if [ -n "$policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
	rm -rf "$shim"
	if [ "$rc" != 0 ] || ! installed; then
		cat "$log" >&2
		echo "setup.sh: apt-get install postfix failed" >&2
		exit 1
	fi
	rm -f "$log"
fi

# Configuration: a catch-all virtual mailbox for test.invalid, owned by
# nobody, and an extra smtpd on 127.0.0.1:$PORT.
mkdir -p "$SPOOL"
chown 65534:65534 "$SPOOL"
# Old test mail only slows the test's search down.
find "$SPOOL" -type f -mmin +120 -delete 2>/dev/null || true
echo '/^/ inbox/' >"$MAPS"
postconf -e \
	"sendmail_path = /usr/sbin/sendmail.postfix" \
	"newaliases_path = /usr/bin/newaliases.postfix" \
	"mailq_path = /usr/bin/mailq.postfix" \
	"myhostname = homepost-test.invalid" \
	"mydestination = localhost" \
	"inet_interfaces = loopback-only" \
	"inet_protocols = ipv4" \
	"virtual_mailbox_domains = test.invalid" \
	"virtual_mailbox_base = $SPOOL" \
	"virtual_mailbox_maps = regexp:$MAPS" \
	"virtual_uid_maps = static:65534" \
	"virtual_gid_maps = static:65534" \
	"virtual_minimum_uid = 100" \
	"smtputf8_enable = yes" \
	"message_size_limit = 52428800" \
	"virtual_mailbox_limit = 0" \
	"maillog_file = /var/log/postfix-homepost-test.log" \
	"header_size_limit = 4194304" \
	"local_header_rewrite_clients =" \
	"always_add_missing_headers = no" \
	"message_drop_headers =" \
	"smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
	"mynetworks = 127.0.0.0/8"
if [ -z "$(postconf -M "127.0.0.1:$PORT/inet" 2>/dev/null)" ]; then
	postconf -M "127.0.0.1:$PORT/inet=127.0.0.1:$PORT inet n - n - - smtpd"
fi

# TLS and AUTH, as a real smarthost has them: STARTTLS on
# 127.0.0.1:$SUBMISSION and TLS from the first byte on 127.0.0.1:$SMTPS,
# both refusing mail without AUTH (user tester, password in $SECRET). The
# certificate names 127.0.0.1 and localhost and is issued by a test CA,
# $TLS/ca.pem, which the test gives homepost as ca_file.
SUBMISSION=2587
SMTPS=2465
TLS=/etc/postfix/homepost-test-tls
SECRET=$TLS/password
SASLDB=/etc/postfix/homepost-test-sasldb2
if ! command -v openssl >/dev/null || ! command -v saslpasswd2 >/dev/null; then
	echo "setup.sh: no openssl or saslpasswd2 (packages openssl, sasl2-bin): no TLS smarthost" >&2
elif ! [ -s "$TLS/server.pem" ] || ! [ -s "$SECRET" ]; then
	mkdir -p "$TLS"
	chmod 755 "$TLS"
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=homepost test CA" \
		-keyout "$TLS/ca.key" -out "$TLS/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
		-keyout "$TLS/server.key" -out "$TLS/server.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$TLS/ext"
	openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
		-days 3650 -extfile "$TLS/ext" -out "$TLS/server.pem" 2>/dev/null
	chmod 600 "$TLS/ca.key" "$TLS/server.key"
	chmod 644 "$TLS/ca.pem" "$TLS/server.pem"
	head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRET"
	chmod 644 "$SECRET" # a test password for a loopback-only server
fi
if [ -s "$SECRET" ] && command -v saslpasswd2 >/dev/null; then
	mkdir -p /etc/postfix/sasl
	printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: %s\n' "$SASLDB" \
		>/etc/postfix/sasl/smtpd.conf
	saslpasswd2 -p -c -f "$SASLDB" -u homepost-test.invalid tester <"$SECRET"
	chown root:postfix "$SASLDB"
	chmod 640 "$SASLDB"
	tlsauth="-o smtpd_tls_cert_file=$TLS/server.pem -o smtpd_tls_key_file=$TLS/server.key"
	tlsauth="$tlsauth -o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes"
	tlsauth="$tlsauth -o smtpd_sasl_local_domain=homepost-test.invalid"
	tlsauth="$tlsauth -o smtpd_client_restrictions=permit_sasl_authenticated,reject"
	tlsauth="$tlsauth -o smtpd_relay_restrictions=permit_sasl_authenticated,reject"
	postconf -M "127.0.0.1:$SUBMISSION/inet=127.0.0.1:$SUBMISSION inet n - n - - smtpd -o smtpd_tls_auth_only=yes $tlsauth"
	postconf -M "127.0.0.1:$SMTPS/inet=127.0.0.1:$SMTPS inet n - n - - smtpd -o smtpd_tls_wrappermode=yes $tlsauth"
fi

if postfix status >/dev/null 2>&1; then
	postfix reload >/dev/null 2>&1
else
	postfix start >/dev/null 2>&1 || { postfix check; exit 1; }
fi

# Wait until the port answers (at most ~10s).
i=0
while ! (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; do
	i=$((i + 1))
	[ $i -ge 50 ] && { echo "setup.sh: Postfix does not answer on 127.0.0.1:$PORT" >&2; exit 1; }
	sleep 0.2
done
exit 0
