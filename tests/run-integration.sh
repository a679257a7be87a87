#!/bin/sh
# Run the integration tests inside a private network namespace with only loopback up,
# so no test, and no resolver, can reach any other address. Extra arguments go to pytest.
set -u
cd "$(dirname "$0")/.." || exit 1
if [ "$(id -u)" = 0 ]; then
	set -- unshare --net "$0.inner" "$@"
else
	set -- unshare --net --map-root-user "$0.inner" "$@"
fi
exec "$@"
