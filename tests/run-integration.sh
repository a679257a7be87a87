#!/bin/sh
# Run the integration tests inside a private network namespace with only loopback up,
# so no test, and no resolver, can reach any other address.
set -u
cd "$(dirname "$0")/.." || exit 1
PY=/usr/bin/python3
if [ "$(id -u)" = 0 ]; then
	NS="unshare --net"
else
	NS="unshare --net --map-root-user"
fi
exec $NS sh -c "ip link set lo up && exec $PY -m pytest -q -p no:cacheprovider tests/integration $*"
