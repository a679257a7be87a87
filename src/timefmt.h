/*
 * timefmt: times as a person reads them in the log and the status (issue 17): an
 * instant as ISO 8601 in UTC ("2026-12-05T00:56:12Z", or with milliseconds), and a
 * span from now as "in 56m", "in 2h05m", "in 3d04h" ("12s ago" for the past). Pure:
 * the caller gives now.
 */
#ifndef RELAYD_TIMEFMT_H
#define RELAYD_TIMEFMT_H

#include <stddef.h>

#define TIMEFMT_LEN	32	/* room for either form */

/* timefmt_iso: wall time t (seconds since the epoch) as ISO 8601 UTC into buf; with
 * ms, to the nearest millisecond; without, the second it is in. Returns buf. */
const char	*timefmt_iso(double t, int ms, char *buf, size_t len);

/*
 * timefmt_rel: t relative to now into buf: "in 45s", "in 56m", "in 2h05m", "in
 * 3d04h"; "now" within half a second; "45s ago" and the like before now. Seconds are
 * rounded up (a wait is never shown shorter than it is), minutes to the nearest.
 * Returns buf.
 */
const char	*timefmt_rel(double t, double now, char *buf, size_t len);

#endif
