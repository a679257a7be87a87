/*
 * statuspage: the status page on metrics_listen's "/", for people who would rather
 * look than read. Plain HTML and CSS with inline SVG charts, no script and no
 * external asset; it reloads itself (meta refresh). It is drawn from the very object
 * relayctl status --json prints (and /status.json serves), so the page and the JSON
 * cannot disagree; what status does not hold (the hourly sends, the last bounces and
 * failures) comes beside it. Pure: no I/O, no clock; metrics.c gathers and serves.
 */
#ifndef RELAYD_STATUSPAGE_H
#define RELAYD_STATUSPAGE_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#define STATUSPAGE_REFRESH	10	/* seconds between the page's reloads */
#define STATUSPAGE_HOURS	24	/* hours of sends in each account's chart */
#define STATUSPAGE_ROWS		10	/* bounces and failures listed */

/*
 * statuspage_render: the page (a complete HTML document, UTF-8) for status (the
 * status command's result: "accounts", "queue", "events", and whatever else it
 * holds, each section shown as far as its members are there) and extra (may be
 * NULL), an object with any of:
 *   "history"   scheduler_history's object (the chart of each account),
 *   "bounces"   the bounces command's records, newest first,
 *   "failures"  the journal's "failed" events, newest first (absent: journal off),
 * as seen at now (wall clock, for "in 5m" and "3m ago"). Every string is escaped for
 * HTML. Returns a new NUL-terminated string of *len octets; the caller frees it.
 */
char		*statuspage_render(const json_t *status, const json_t *extra, time_t now,
		    size_t *len);

/*
 * statuspage_escape: s escaped for HTML text and quoted attributes (& < > " '):
 * a new string; the caller frees it. For the tests and for whoever else needs it.
 */
char		*statuspage_escape(const char *s);

#endif
