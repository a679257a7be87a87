#!/bin/sh
# Install the Debian packages relayd needs to build and to be tested, or, when not
# run as root, name the missing ones and fail.
#   contrib/deps.sh            install what is missing (root), else list it and exit 1
#   contrib/deps.sh --check    only list what is missing for the build; exit 1 if anything is
#   contrib/deps.sh --bench    the same as without arguments, for the build and `make bench`
#                              (Postfix itself is only downloaded by tests/bench/run.sh, never
#                              installed)
set -u

# Installed with --no-install-recommends, so what a package only recommends and a test
# needs is named here too: libc6-dev (gcc), libnet-ssleay-perl and libio-socket-ssl-perl
# (swaks speaks TLS through them). mandoc lints and renders the man pages; systemd brings
# systemd-analyze, which checks the unit file (nothing is started). chromium loads the
# status page headless (tests/integration/test_statuspage.py).
BUILD="gcc libc6-dev make pkg-config libevent-dev libssl-dev libconfig-dev libsasl2-dev
       libsasl2-modules libjansson-dev libgmime-3.0-dev zlib1g-dev libcrypt-dev
       libcurl4-openssl-dev libhiredis-dev"
TEST="python3 python3-aiosmtpd python3-pytest openssl swaks libnet-ssleay-perl
      libio-socket-ssl-perl msmtp faketime iproute2 util-linux procps dovecot-imapd strace
      fiu-utils valgrind mandoc systemd chromium redis-server"
# make bench: /usr/bin/python3 drives it, unshare and ip give it a private loopback, perf
# and valgrind (callgrind) profile, apt-get download fetches Postfix without installing it;
# stunnel4 puts TLS in front of the sink for the TLS run (openssl makes its certificate).
BENCH="python3 util-linux iproute2 linux-perf valgrind apt dpkg openssl stunnel4 redis-server"

missing() {
	for p in $*; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			printf '%s ' "$p"
	done
}

if [ "${1:-}" = "--check" ]; then
	m=$(missing $BUILD)
	[ -z "$m" ] && exit 0
	echo "relayd: missing Debian packages for the build: $m" >&2
	echo "relayd: install them with: apt-get install $m   (or run 'make deps' as root)" >&2
	exit 1
fi

if [ "${1:-}" = "--bench" ]; then
	m=$(missing $BUILD $BENCH)
else
	m=$(missing $BUILD $TEST)
fi
[ -z "$m" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "relayd: missing Debian packages: $m" >&2
	echo "relayd: run as root, or install them with: sudo apt-get install $m" >&2
	exit 1
fi
echo "relayd: installing $m"
export DEBIAN_FRONTEND=noninteractive
# dovecot's package starts a system service; the tests run their own unprivileged one.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq || exit 1
apt-get install -y -qq --no-install-recommends $m >/dev/null || exit 1
