#!/bin/sh
# make bench: relayd against Postfix on loopback (issue 7). Fetches Postfix (for
# smtp-source, smtp-sink and Postfix itself) with `apt-get download` + `dpkg -x` into
# build/bench/postfix, never installing it as the system MTA; builds the helpers in
# tests/bench/*.c; then runs tests/bench/run.py inside a private network namespace with
# only loopback up (as root), bounded by BENCH_TIMEOUT seconds overall. Arguments go to
# run.py (--count, --runs, --sessions, ...; see run.py --help).
set -u
cd "$(dirname "$0")/../.." || exit 1
B=build/bench
PF=$B/postfix
mkdir -p $B/bin $B/dl

if [ ! -x $PF/usr/sbin/smtp-source ] || [ ! -x $PF/usr/lib/postfix/sbin/master ]; then
	deb=$(ls $B/dl/postfix_*.deb 2>/dev/null | head -n 1)
	if [ -z "$deb" ]; then
		echo "bench: fetching the postfix package (download only, not installed)"
		(cd $B/dl && timeout 300 apt-get download postfix) || {
			echo "bench: apt-get download postfix failed" >&2; exit 1; }
		deb=$(ls $B/dl/postfix_*.deb | head -n 1)
	fi
	rm -rf $PF && timeout 120 dpkg -x "$deb" $PF || exit 1
fi

for p in fsyncbench idleconns spoolgen; do
	if [ ! -x $B/bin/$p ] || [ tests/bench/$p.c -nt $B/bin/$p ]; then
		${CC:-cc} -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -o $B/bin/$p \
		    tests/bench/$p.c -lz || exit 1
	fi
done

# The shared ledger's reservation round trip (issue 20): linked with relayd's own script.
if [ ! -x $B/bin/sharedbench ] || [ tests/bench/sharedbench.c -nt $B/bin/sharedbench ] ||
    [ build/librelay.a -nt $B/bin/sharedbench ]; then
	${CC:-cc} -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -o $B/bin/sharedbench \
	    tests/bench/sharedbench.c build/librelay.a $(pkg-config --libs libevent \
	    libevent_openssl openssl libconfig libsasl2 jansson gmime-3.0 libcurl hiredis) \
	    -lz -lm -lcrypt -pthread || exit 1
fi

# A private copy: other work in this tree may rebuild build/relayd while the bench runs.
cp build/relayd build/relayctl $B/bin/ || { echo "bench: build relayd first (make)" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
	# Postfix's daemons run as mail_owner "postfix" with setgid_group "postdrop".
	if ! getent group postdrop >/dev/null; then
		echo "bench: creating system group 'postdrop' (needed by the benchmark's Postfix)"
		groupadd --system postdrop || exit 1
	fi
	if ! getent passwd postfix >/dev/null; then
		echo "bench: creating system user 'postfix' (needed by the benchmark's Postfix;" \
		    "no home, no shell)"
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin postfix || exit 1
	fi
	exec timeout -k 10 "${BENCH_TIMEOUT:-1800}" unshare --net sh -c \
	    'ip link set lo up && exec /usr/bin/python3 tests/bench/run.py "$@"' sh "$@"
fi
echo "bench: not root: no private network namespace, and Postfix (which must start as" \
    "root) will fail; run make bench as root for the comparison" >&2
exec timeout -k 10 "${BENCH_TIMEOUT:-1800}" /usr/bin/python3 tests/bench/run.py "$@"
