#!/bin/sh
# make test-fresh: prove that the README's two commands work on a brand-new Debian 12.
#
# 1. A minimal Debian 12 root (debootstrap --variant=minbase, plus git, make and
#    ca-certificates, and the /etc/hosts an installed machine has) is made once per machine
#    and cached in build/fresh/base.
# 2. Each run lays a throwaway overlay over it, clones the current commit into /root/relayd,
#    and enters it as root through pivot_root inside private mount and PID namespaces (a bare
#    chroot would not do: the kernel refuses user namespaces inside a chroot, and the tests
#    make them).
# 3. There it runs `make test`, then `make run` and checks that 127.0.0.1:2525 answers 220.
# 4. Leaving the namespaces takes every mount and process with it; the overlay's upper
#    layer is removed.
#
# It shares the host's network (apt-get needs the Debian mirror); the integration tests
# inside make their own private network namespace, as everywhere.
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
if [ "$(id -u)" != 0 ]; then
	echo "test-fresh: needs root (it makes a Debian root with debootstrap and mounts it)" >&2
	exit 1
fi
SUITE=${FRESH_SUITE:-bookworm}
MIRROR=${FRESH_MIRROR:-http://deb.debian.org/debian}
CACHE=$ROOT/build/fresh
BASE=$CACHE/base

say() { echo "test-fresh: $*"; }

if [ ! -f "$CACHE/base.done" ]; then
	if ! command -v debootstrap >/dev/null 2>&1; then
		say "installing debootstrap"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		    debootstrap >/dev/null || { apt-get update -qq &&
		    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    --no-install-recommends debootstrap >/dev/null; }
	fi
	say "making a minimal Debian ($SUITE) in $BASE, once per machine"
	rm -rf "$BASE"
	mkdir -p "$CACHE"
	debootstrap --variant=minbase --include=git,make,ca-certificates \
	    "$SUITE" "$BASE" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 || {
		tail -20 "$CACHE/debootstrap.log" >&2
		say "debootstrap failed (log: $CACHE/debootstrap.log)" >&2
		exit 1
	}
	# What every installed Debian machine has and minbase leaves out.
	printf '127.0.0.1\tlocalhost\n127.0.1.1\tfresh\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n' \
	    > "$BASE/etc/hosts"
	echo fresh > "$BASE/etc/hostname"
	apt-get clean -o RootDir="$BASE" 2>/dev/null || true
	touch "$CACHE/base.done"
fi

RUN=$(mktemp -d "$CACHE/run.XXXXXX")
cleanup() { rm -rf "$RUN"; }
trap cleanup EXIT INT TERM
mkdir -p "$RUN/upper" "$RUN/work" "$RUN/root"
# The commit under test, as a user would clone it (committed work only).
git clone -q --no-hardlinks "$ROOT" "$RUN/relayd"
say "testing $(git -C "$RUN/relayd" log -1 --format='%h %s')"

# Inside: private mount and PID namespaces. The overlay is mounted there, so it and every
# mount under it vanish with the namespace, and killing PID 1 of the namespace ends every
# process a test left behind.
unshare --mount --pid --fork --propagation private /bin/sh -eu -c '
	base=$1 run=$2
	m=$run/root
	mount -t overlay overlay -o "lowerdir=$base,upperdir=$run/upper,workdir=$run/work" "$m"
	mkdir -p "$m/root/relayd"
	mount --bind "$run/relayd" "$m/root/relayd"
	mount -t proc proc "$m/proc"
	mount -t sysfs sysfs "$m/sys"
	mount --rbind /dev "$m/dev"
	mount -t tmpfs -o mode=1777 tmpfs "$m/tmp"
	mount -t tmpfs -o mode=755 tmpfs "$m/run"
	cp /etc/resolv.conf "$m/etc/resolv.conf"
	mkdir -p "$m/.oldroot"
	cd "$m"
	pivot_root . .oldroot
	umount -l /.oldroot
	rmdir /.oldroot
	cd /root/relayd
	export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	export HOME=/root LANG=C.UTF-8
	unset BOUNCES_DIR || true
	echo "test-fresh: make test (first try, nothing installed)"
	make test
	echo "test-fresh: make run"
	make run > /tmp/run.log 2>&1 &
	pid=$!
	i=0
	until /usr/bin/python3 -c "
import socket, sys
s = socket.create_connection((\"127.0.0.1\", 2525), timeout=2)
b = s.recv(512)
sys.exit(0 if b.startswith(b\"220\") else 1)" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 $pid 2>/dev/null; then
			cat /tmp/run.log >&2
			echo "test-fresh: make run does not listen on 127.0.0.1:2525" >&2
			exit 1
		fi
		sleep 0.2
	done
	echo "test-fresh: make run listens on 127.0.0.1:2525 and answers 220"
	kill $pid 2>/dev/null || true
' fresh "$BASE" "$RUN"
say "passed"
