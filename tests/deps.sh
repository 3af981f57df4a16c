#!/bin/sh
# deps.sh - make sure what the build (and, with "test", the test suite)
# needs is on this machine.  On Debian/Ubuntu as root it installs what is
# missing with apt-get; otherwise it stops and prints the command to run.
# usage: sh tests/deps.sh build|test
set -u
what=${1:-build}
missing=""

have_header() {
	printf '#include <%s>\nint main(void){return 0;}\n' "$1" |
	    ${CC:-cc} -x c -o /dev/null - "$2" >/dev/null 2>&1
}

command -v ${CC:-cc} >/dev/null 2>&1 || missing="$missing gcc"
command -v make >/dev/null 2>&1 || missing="$missing make"
have_header bearssl.h -lbearssl || missing="$missing libbearssl-dev"
have_header zlib.h -lz || missing="$missing zlib1g-dev"
if [ "$what" = test ]; then
	command -v python3 >/dev/null 2>&1 || missing="$missing python3"
	command -v swaks >/dev/null 2>&1 || missing="$missing swaks"
	command -v curl >/dev/null 2>&1 || missing="$missing curl"
	# TLS tests: certificates made with openssl; swaks --tls needs
	# IO::Socket::SSL
	command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
	perl -MIO::Socket::SSL -e 1 >/dev/null 2>&1 ||
	    missing="$missing libio-socket-ssl-perl"
	# store tests run the real servers (DESIGN "Tests")
	PATH=$PATH:/usr/sbin:/usr/local/sbin command -v redis-server \
	    >/dev/null 2>&1 || missing="$missing redis-server"
	fpm=no
	for f in /usr/sbin/php-fpm* /usr/local/sbin/php-fpm*; do
		[ -x "$f" ] && fpm=yes
	done
	[ $fpm = yes ] || missing="$missing php-fpm"
	command -v man >/dev/null 2>&1 || missing="$missing man-db"
	PATH=$PATH:/usr/sbin:/usr/local/sbin command -v mariadbd \
	    >/dev/null 2>&1 || missing="$missing mariadb-server"
	command -v mariadb >/dev/null 2>&1 || missing="$missing mariadb-client"
	# test_proxies.py: the proxies people put in front of the daemon
	PATH=$PATH:/usr/sbin:/usr/local/sbin command -v haproxy \
	    >/dev/null 2>&1 || missing="$missing haproxy"
	PATH=$PATH:/usr/sbin:/usr/local/sbin command -v nginx \
	    >/dev/null 2>&1 || missing="$missing nginx"
	mailmod=no
	for f in /usr/lib/nginx/modules/ngx_mail_module.so \
	    /usr/lib*/nginx/modules/ngx_mail_module.so \
	    /usr/lib/*/nginx/modules/ngx_mail_module.so; do
		[ -f "$f" ] && mailmod=yes
	done
	[ $mailmod = yes ] || missing="$missing libnginx-mod-mail"
fi
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null 2>&1 || true
	# shellcheck disable=SC2086
	apt-get install -y -qq $missing >/dev/null || {
		echo "deps.sh: apt-get install failed for:$missing" >&2
		exit 1
	}
	exit 0
fi
echo "deps.sh: missing:$missing" >&2
if command -v apt-get >/dev/null 2>&1; then
	echo "run:  sudo apt-get install -y$missing" >&2
else
	echo "install the equivalents of these Debian packages with your" \
	    "system's package manager, then run make again" >&2
fi
exit 1
