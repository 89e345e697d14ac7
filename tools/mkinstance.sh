#!/usr/bin/env bash
# mkinstance.sh - create (or reuse) a Roost instance directory.
#
#   tools/mkinstance.sh VARDIR BINDIR
#
# Lays out VARDIR as docs/architecture.md describes (imapd.conf, config/,
# spool/, run/, log/, tls/, queue/, sasldb2 with the admin "cyrus" and a
# random password in admin-password, instance.env).  An existing imapd.conf,
# certificate, sasldb2 or password is kept.  Ports come from the environment
# (ROOST_IMAP_PORT ... as in instance.env) with the development defaults;
# the test harness uses this same script with free ports.  A service is
# configured only when its program exists in BINDIR.
set -euo pipefail

var=${1:?usage: mkinstance.sh VARDIR BINDIR}
bin=${2:?usage: mkinstance.sh VARDIR BINDIR}
mkdir -p "$var"
var=$(cd "$var" && pwd)
bin=$(cd "$bin" && pwd)

: "${ROOST_IMAP_PORT:=1143}"  "${ROOST_IMAPS_PORT:=1993}"
: "${ROOST_POP3_PORT:=1110}"  "${ROOST_POP3S_PORT:=1995}"
: "${ROOST_LMTP_PORT:=2424}"  "${ROOST_SMTP_PORT:=2525}"
: "${ROOST_SUBMISSION_PORT:=1587}"
: "${ROOST_DOMAIN:=localhost}"
: "${ROOST_ADMIN_USER:=cyrus}"

mkdir -p "$var"/{config,spool,run,log,tls,queue}
chmod 0750 "$var/config" "$var/spool" "$var/queue"

conf="$var/imapd.conf"
if [ ! -f "$conf" ]; then
    {
        echo "# Roost development instance, made by tools/mkinstance.sh."
        echo "# Reference of every key: docs/config.md"
        echo "configdirectory: $var/config"
        echo "partition-default: $var/spool"
        echo "defaultpartition: default"
        echo "servername: $ROOST_DOMAIN"
        echo "defaultdomain: $ROOST_DOMAIN"
        echo "admins: $ROOST_ADMIN_USER"
        echo "cyrus_user: $(id -un)"
        echo "master_pidfile: $var/run/master.pid"
        echo "lmtpsocket: $var/run/lmtp"
        echo "sasl_pwcheck_method: auxprop"
        echo "sasl_auxprop_plugin: sasldb"
        echo "sasl_sasldb_path: $var/sasldb2"
        echo "sasl_mech_list: PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256"
        echo "tls_server_cert: $var/tls/server.pem"
        echo "tls_server_key: $var/tls/server.key"
        echo "allowplaintext: no"
    } > "$conf"
fi

# The services block is rewritten on every run so that programs built since
# the last run are picked up; everything outside the markers is left alone.
services_block() {
    echo "# BEGIN services (rewritten by tools/mkinstance.sh; edit outside this block)"
    [ -x "$bin/imapd" ] && {
        echo "service-imap: cmd=\"imapd\" listen=\"127.0.0.1:$ROOST_IMAP_PORT\" prefork=1"
        echo "service-imaps: cmd=\"imapd -s\" listen=\"127.0.0.1:$ROOST_IMAPS_PORT\" prefork=1"
    }
    [ -x "$bin/pop3d" ] && {
        echo "service-pop3: cmd=\"pop3d\" listen=\"127.0.0.1:$ROOST_POP3_PORT\" prefork=1"
        echo "service-pop3s: cmd=\"pop3d -s\" listen=\"127.0.0.1:$ROOST_POP3S_PORT\" prefork=1"
    }
    [ -x "$bin/lmtpd" ] && {
        echo "service-lmtp: cmd=\"lmtpd\" listen=\"127.0.0.1:$ROOST_LMTP_PORT\" prefork=1"
        echo "service-lmtpunix: cmd=\"lmtpd\" listen=\"$var/run/lmtp\" prefork=1"
    }
    [ -x "$bin/smtpd" ] && {
        echo "service-smtp: cmd=\"smtpd\" listen=\"127.0.0.1:$ROOST_SMTP_PORT\" prefork=1"
        echo "service-submission: cmd=\"smtpd -m\" listen=\"127.0.0.1:$ROOST_SUBMISSION_PORT\" prefork=1"
    }
    [ -x "$bin/qmgr" ] && echo "daemon-qmgr: cmd=\"qmgr\""
    true
    echo "# END services"
}
tmp="$conf.tmp.$$"
awk '/^# BEGIN services/{skip=1} !skip{print} /^# END services/{skip=0}' "$conf" > "$tmp"
services_block >> "$tmp"
mv "$tmp" "$conf"

# A self-signed certificate for TLS on first run.
if [ ! -f "$var/tls/server.pem" ]; then
    "$bin/roost-mkcert" -n "$ROOST_DOMAIN" "$var/tls/server.pem" "$var/tls/server.key" >/dev/null
fi

# The admin user with a random password, kept in admin-password (0600).
pwfile="$var/admin-password"
if [ ! -s "$pwfile" ]; then
    ( umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$pwfile" )
fi
chmod 0600 "$pwfile"
if ! sasldblistusers2 -f "$var/sasldb2" 2>/dev/null | grep -q "^$ROOST_ADMIN_USER@"; then
    saslpasswd2 -p -c -f "$var/sasldb2" "$ROOST_ADMIN_USER" < "$pwfile"
fi
chmod 0600 "$var/sasldb2"

# mkimap: databases and partitions, once the store exists.
if [ -x "$bin/mkimap" ]; then
    "$bin/mkimap" -C "$conf" >/dev/null
fi

cat > "$var/instance.env" <<ENV
ROOST_IMAP_PORT=$ROOST_IMAP_PORT
ROOST_IMAPS_PORT=$ROOST_IMAPS_PORT
ROOST_POP3_PORT=$ROOST_POP3_PORT
ROOST_POP3S_PORT=$ROOST_POP3S_PORT
ROOST_LMTP_PORT=$ROOST_LMTP_PORT
ROOST_LMTP_SOCKET=$var/run/lmtp
ROOST_SMTP_PORT=$ROOST_SMTP_PORT
ROOST_SUBMISSION_PORT=$ROOST_SUBMISSION_PORT
ROOST_ADMIN_USER=$ROOST_ADMIN_USER
ROOST_ADMIN_PASSWORD_FILE=$pwfile
ROOST_SASLDB=$var/sasldb2
ROOST_DOMAIN=$ROOST_DOMAIN
ROOST_CONFIG=$conf
ROOST_BIN=$bin
ENV
echo "instance ready in $var (config $conf)"
