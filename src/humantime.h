/*
 * humantime: times as people read them in relayctl's output, its "why" texts and the
 * log: ISO 8601 in local time ("2026-12-04 14:05:09 +0100") or UTC for the log
 * ("2026-12-05T00:56:12.708Z"), and spans relative to now ("in 56m", "5m ago",
 * "2h05m", "3d04h"). Pure functions of their arguments (and of the TZ for local
 * time); no I/O.
 */
#ifndef RELAYD_HUMANTIME_H
#define RELAYD_HUMANTIME_H

#include <stddef.h>
#include <time.h>

/* humantime_span: d seconds (>= 0) as "42s", "12m", "2h05m" or "3d04h", into buf;
 * returns buf. */
const char	*humantime_span(long long d, char *buf, size_t len);

/* humantime_rel: t against now as "in 12m", "12m ago" or "now", into buf; returns buf. */
const char	*humantime_rel(time_t t, time_t now, char *buf, size_t len);

/* humantime_iso: t in local time as "2026-12-04 14:05:09 +0100", into buf (>= 32);
 * returns buf. */
const char	*humantime_iso(time_t t, char *buf, size_t len);

/* humantime_both: "2026-12-04 14:05:09 +0100 (in 56m)", into buf (>= 64); returns buf. */
const char	*humantime_both(time_t t, time_t now, char *buf, size_t len);

#define HUMANTIME_LEN	32	/* room for humantime_utc and humantime_rel_frac */

/* humantime_utc: wall time t (seconds since the epoch) as ISO 8601 UTC into buf; with
 * ms, to the nearest millisecond; without, the second it is in. Returns buf. */
const char	*humantime_utc(double t, int ms, char *buf, size_t len);

/*
 * humantime_rel_frac: humantime_rel for fractional times (the log's): "now" within
 * half a second; otherwise seconds rounded up (a wait is never shown shorter than it
 * is) and, from two minutes to two hours, to the nearest minute. Returns buf.
 */
const char	*humantime_rel_frac(double t, double now, char *buf, size_t len);

#endif
