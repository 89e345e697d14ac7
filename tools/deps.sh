#!/usr/bin/env bash
# deps.sh - check for every build (and, with "test", test) dependency and
# install what is missing with apt-get when running as root; otherwise print
# the one apt-get line to run.  Called by `make run` and `make check`.
#
#   tools/deps.sh [build|test|bench]
set -euo pipefail

mode=${1:-test}

build_pkgs=(gcc make pkg-config libssl-dev libsasl2-dev libsasl2-modules
            libsasl2-modules-db sasl2-bin libdb-dev libicu-dev zlib1g-dev)
test_pkgs=(python3 python3-pytest libcmocka-dev clang libclang-rt-14-dev
           postfix swaks cyrus-clients isync libmail-imapclient-perl)
# make bench: the servers Roost is compared with (cyrus-imapd conflicts
# with dovecot-imapd: tests/bench/imap_bench.py unpacks its imapd itself).
bench_pkgs=(dovecot-imapd dovecot-lmtpd)

pkgs=("${build_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")
[ "$mode" = bench ] && pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing+=("$p") ;;
    esac
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # postfix and cyrus-clients (its cyrus-common) are for the e2e tests,
    # which run private instances: install them unconfigured and keep the
    # packages from starting system daemons (port 25, 143 ...).
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "deps: done"
else
    echo "deps: missing packages; run as root:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi
